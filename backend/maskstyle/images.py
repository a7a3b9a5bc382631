"""Reading and writing images and masks, with the checks that keep bad input out.

Every reader raises InputError with a one-line reason a person can act on. Sizes are
checked from the file header before the pixels are decoded, so a decompression bomb
costs nothing.
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import InputError

DEFAULT_MAX_PIXELS = 50_000_000  # about 7000 x 7000
# Every image is opened through _open, which checks the header size against our own
# limit before decoding; Pillow's cruder guard would only hide that clearer message.
Image.MAX_IMAGE_PIXELS = None


def max_pixels() -> int:
    """The configured limit on image size, from MASKSTYLE_MAX_PIXELS."""
    raw = os.environ.get("MASKSTYLE_MAX_PIXELS")
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(raw)
    except ValueError:
        raise InputError(f"MASKSTYLE_MAX_PIXELS must be a whole number, not {raw!r}") from None
    return max(1, value)


def _open(source: str | os.PathLike | bytes, what: str, limit: int | None) -> Image.Image:
    """Open an image lazily and check its header size against the limit."""
    name = what
    try:
        if isinstance(source, (bytes, bytearray)):
            fp = io.BytesIO(source)
        else:
            path = Path(source)
            name = f"{what} '{path}'"
            if not path.exists():
                raise InputError(f"{name} does not exist")
            if path.is_dir():
                raise InputError(f"{name} is a folder, not an image file")
            fp = path.open("rb")
        img = Image.open(fp)
    except InputError:
        raise
    except PermissionError:
        raise InputError(f"{name} cannot be read (permission denied)") from None
    except Exception:
        raise InputError(f"{name} is not a readable image (corrupt or unsupported format)") from None
    limit = max_pixels() if limit is None else limit
    w, h = img.size
    if w < 1 or h < 1:
        raise InputError(f"{name} has no pixels")
    if w * h > limit:
        raise InputError(
            f"{name} is {w}x{h} = {w * h / 1e6:.1f} megapixels, over the limit of "
            f"{limit / 1e6:.1f} megapixels (set MASKSTYLE_MAX_PIXELS to raise it)"
        )
    return img


def _decode(img: Image.Image, mode: str, name: str) -> np.ndarray:
    try:
        img.load()
        if img.mode in ("I;16", "I;16B", "I") and mode == "L":
            arr = np.asarray(img, dtype=np.float64)
            peak = 65535.0 if arr.max() > 255 else 255.0
            return np.clip(np.round(arr / peak * 255.0), 0, 255).astype(np.uint8)
        return np.asarray(img.convert(mode), dtype=np.uint8).copy()
    except Exception:
        raise InputError(f"{name} is truncated or corrupt and could not be decoded") from None


def read_image(source, what: str = "image", limit: int | None = None) -> np.ndarray:
    """An RGB image as uint8 (H, W, 3). Alpha, if present, is dropped."""
    img = _open(source, what, limit)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        rgba = _decode(img, "RGBA", what)
        return np.ascontiguousarray(rgba[..., :3])
    return _decode(img, "RGB", what)


def read_rgba(source, what: str = "image", limit: int | None = None) -> np.ndarray:
    """An RGBA image as uint8 (H, W, 4); images without alpha get an opaque one."""
    return _decode(_open(source, what, limit), "RGBA", what)


def read_mask(source, size: tuple[int, int] | None = None, what: str = "mask",
              limit: int | None = None, allow_empty: bool = False) -> np.ndarray:
    """An 8-bit grayscale mask (H, W); `size` is the (width, height) it must have."""
    img = _open(source, what, limit)
    if size is not None and img.size != tuple(size):
        raise InputError(
            f"{what} is {img.size[0]}x{img.size[1]} but the image is {size[0]}x{size[1]}; "
            "the mask must be the same size as the image"
        )
    if img.mode in ("RGBA", "LA"):
        # A mask drawn on a transparent canvas: use the alpha if the gray is flat.
        rgba = _decode(img.convert("RGBA"), "RGBA", what)
        gray = np.asarray(Image.fromarray(rgba[..., :3]).convert("L"))
        mask = rgba[..., 3] if gray.min() == gray.max() else gray
    else:
        mask = _decode(img, "L", what)
    if not allow_empty and not mask.any():
        raise InputError(f"{what} is empty (all black): nothing is selected")
    return mask


def encode_png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def write_png(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write a PNG atomically: a temporary file in the same folder, then a rename."""
    write_bytes(path, encode_png(array))


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write atomically, with the permissions a plain open() would give (mkstemp makes 0600)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if os.name != "nt":
                os.fchmod(f.fileno(), 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where Linux says it (/proc)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:  # elsewhere: set and restore, one thread at a time
        mask = os.umask(0o22)
        os.umask(mask)
    return mask


def write_image(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write in the format the file name asks for (PNG, JPEG, WebP, TIFF), atomically."""
    path = Path(path)
    fmt = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP",
           ".tif": "TIFF", ".tiff": "TIFF"}.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"cannot write '{path}': use a .png, .jpg, .webp or .tif name")
    buf = io.BytesIO()
    img = Image.fromarray(array)
    if fmt == "JPEG":
        img.convert("RGB").save(buf, format=fmt, quality=95)
    else:
        img.save(buf, format=fmt)
    write_bytes(path, buf.getvalue())
