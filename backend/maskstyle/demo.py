"""The demo: restyle the cat in scikit-image's bundled photo with a brush-stroke style.

The style image is painted here from a seed (swirling strokes along a flow field), so
the demo needs no third-party painting and no download.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from maskstyle_wire.geometry import Rect

from .errors import InputError
from .images import write_png


def brush_strokes(size: int = 384, seed: int = 7) -> np.ndarray:
    """A painterly RGB image: short thick strokes following a swirling flow field."""
    rng = np.random.default_rng(seed)
    palette = np.array([[22, 44, 110], [40, 86, 170], [78, 132, 200], [236, 200, 64],
                        [250, 228, 120], [24, 30, 52], [120, 170, 210]], np.uint8)
    canvas = np.full((size, size, 3), (30, 60, 130), np.uint8)
    for _ in range(size * 6):
        x, y = rng.uniform(0, size, 2)
        colour = palette[rng.integers(len(palette))].astype(int)
        colour = tuple(int(c) for c in np.clip(colour + rng.integers(-20, 21, 3), 0, 255))
        width = int(rng.integers(2, 7))
        points = [(x, y)]
        for _ in range(int(rng.integers(4, 10))):
            angle = np.sin(x / size * 6.0) * 2.0 + np.cos(y / size * 5.0) * 2.0
            x, y = x + 4 * np.cos(angle), y + 4 * np.sin(angle)
            points.append((x, y))
        cv2.polylines(canvas, [np.int32(points)], False, colour, width, cv2.LINE_AA)
    return cv2.GaussianBlur(canvas, (3, 3), 0)


def ellipse_mask(height: int, width: int, rect: Rect, feather: float) -> np.ndarray:
    """A height x width mask of the ellipse inscribed in rect, its edge blurred by a Gaussian
    of `feather` pixels."""
    mask = np.zeros((height, width), np.uint8)
    centre = ((rect.x + rect.right) // 2, (rect.y + rect.bottom) // 2)
    cv2.ellipse(mask, centre, (rect.width // 2, rect.height // 2), 0, 0, 360, 255, -1)
    return cv2.GaussianBlur(mask, (0, 0), feather)


def run_demo(out: Path, quality: str = "fast", progress=None) -> dict[str, Path]:
    try:
        from skimage import data
    except ImportError:
        raise InputError("the demo needs scikit-image's sample photos: pip install 'maskstyle[demo]'") from None
    from .engine.stylize import StylizeOptions, stylize
    from .images import write_image

    content = data.chelsea()  # 451 x 300, the cat
    style = brush_strokes()
    mask = ellipse_mask(*content.shape[:2], Rect(120, 20, 310, 280), feather=6)
    result = stylize(content, mask, style, StylizeOptions(quality=quality),
                     progress=progress, layer_name="Stylized (brush strokes)")
    out.mkdir(parents=True, exist_ok=True)
    files = {"content": out / "content.png", "style": out / "style.png", "mask": out / "mask.png",
             "result": out / "result.png"}
    write_png(files["content"], content)
    write_png(files["style"], style)
    write_png(files["mask"], mask)
    write_image(files["result"], result.image)
    return {k: v.resolve() for k, v in files.items()}
