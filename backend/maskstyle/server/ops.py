"""The operations the backend runs. Adding one is one params model, one function, one entry.

Each op declares its parameters (pydantic, named as on the command line, with ranges) and
its file parts; its function gets decoded arrays and returns layers for GIMP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Callable, Literal, Optional

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..errors import InputError
from ..images import encode_png

MAX_REGIONS = 3  # the upload takes 8 file parts: image, 3 mask/style pairs, rest
_REGION_PART = re.compile(r"(mask|style)(\d+)")


@dataclass
class ResultLayer:
    name: str
    x: int
    y: int
    width: int
    height: int
    png: bytes
    kind: str = "image"        # "image", or "mask" for segmentation
    opacity: float = 100.0
    mode: str = "normal"


@dataclass
class OpResult:
    layers: list[ResultLayer]
    encoder: str
    device: str
    info: dict | None = None

    @property
    def nbytes(self) -> int:
        return sum(len(layer.png) for layer in self.layers)


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StylizeParams(Params):
    quality: Literal["fast", "balanced", "best"] = "balanced"
    strength: float = Field(1.0, ge=0.0, le=1.0)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    preserve_color: bool = False
    encoder: Literal["auto", "builtin", "vgg19"] = "auto"
    method: Literal["patch", "neural"] = "patch"
    iterations: Optional[int] = Field(None, ge=1, le=1000)
    max_side: Optional[int] = Field(None, ge=32, le=4096)
    name: Optional[str] = Field(None, max_length=200)
    seam: Literal["none", "feather", "graphcut"] = "none"
    seam_width: Optional[int] = Field(None, ge=2, le=512)
    boundary_tv: float = Field(0.0, ge=0.0, le=1e4)
    regions_method: Literal["masked", "surrogate"] = "masked"
    # one per region; a trailing extra (the rest's) is ignored: rest_name names the rest
    names: Optional[list[Annotated[str, Field(max_length=200)]]] = Field(None, max_length=MAX_REGIONS + 1)
    rest_name: Optional[str] = Field(None, max_length=200)


@dataclass
class Op:
    params: type[Params]
    files: dict[str, str]       # part name -> "image" | "mask" | "style" | "hint"
    required: tuple[str, ...]
    run: Callable[..., OpResult]
    check: Optional[Callable[[dict], None]] = None   # on the parts sent, before decoding


def layer_from(engine_layer, kind: str = "image", mask_in_alpha: bool = False) -> ResultLayer:
    h, w = engine_layer.mask.shape
    rgba = np.dstack([engine_layer.rgb, engine_layer.mask]) if mask_in_alpha else engine_layer.rgba
    return ResultLayer(engine_layer.name, engine_layer.x, engine_layer.y, w, h,
                       encode_png(rgba), kind)


def _region_count(parts) -> int:
    """1 + the highest N among the maskN/styleN parts sent; 0 when there are none."""
    numbers = [int(m.group(2)) for m in map(_REGION_PART.fullmatch, parts) if m]
    return max(numbers) + 1 if numbers else 0


def check_stylize_parts(parts: dict) -> None:
    """Either 'mask' and 'style', or regions as complete pairs mask0/style0, mask1/style1, ..."""
    count = _region_count(parts)
    if count == 0:
        if "rest" in parts:
            raise InputError("a 'rest' style needs regions: send them as mask0/style0, mask1/style1, ...")
        for name in ("mask", "style"):
            if name not in parts:
                raise InputError(f"the '{name}' file part is missing for stylize")
        return
    if "mask" in parts or "style" in parts:
        raise InputError("send either 'mask' and 'style', or regions as mask0/style0, "
                         "mask1/style1, ..., not both")
    for i in range(count):
        for name in (f"mask{i}", f"style{i}"):
            if name not in parts:
                raise InputError(f"region {i} is incomplete: the '{name}' file part is missing "
                                 "(regions are numbered from 0 without gaps)")


def run_stylize(inputs: dict[str, np.ndarray], params: StylizeParams, progress, cancelled,
                cache) -> OpResult:
    """One region from 'mask' and 'style', or several from maskN/styleN (and 'rest').

    The layers' alpha is their mask when there are regions or a seam (the seam redraws the
    mask); otherwise alpha is 255 and the selection sent is the mask, as before."""
    from ..engine.stylize import Region, StylizeOptions, stylize, stylize_regions

    options = StylizeOptions(**params.model_dump(exclude={"name", "names", "rest_name"}))
    count = _region_count(inputs)
    if count == 0:
        result = stylize(inputs["image"], inputs["mask"], inputs["style"], options, progress=progress,
                         cancelled=cancelled, cache=cache, layer_name=params.name or "Stylized")
    else:
        names = params.names or []
        regions = [Region(inputs[f"mask{i}"], inputs[f"style{i}"],
                          names[i] if i < len(names) else f"Stylized {i + 1}") for i in range(count)]
        result = stylize_regions(inputs["image"], regions, inputs.get("rest"), options,
                                 progress=progress, cancelled=cancelled, cache=cache,
                                 rest_name=params.rest_name or "Stylized (rest)")
    alpha = count > 0 or params.seam != "none"
    return OpResult([layer_from(layer, mask_in_alpha=alpha) for layer in result.layers],
                    result.encoder, result.device, info={"method": result.method})


class BlurParams(Params):
    radius: Optional[float] = Field(None, ge=1, le=200)
    name: Optional[str] = Field(None, max_length=200)


def run_blur(inputs, params: BlurParams, progress, cancelled, cache) -> OpResult:
    """The whole image with the background disc-blurred and the subject sharp: one opaque layer."""
    from ..engine.blur import portrait_blur

    out = portrait_blur(inputs["image"], inputs["mask"], params.radius, progress=progress,
                        cancelled=cancelled)
    h, w = out.shape[:2]
    rgba = np.dstack([out, np.full((h, w), 255, np.uint8)])
    return OpResult([ResultLayer(params.name or "Portrait blur", 0, 0, w, h, encode_png(rgba))],
                    "none", "cpu")


class HarmonizeParams(Params):
    mode: Literal["photo", "painterly"] = "photo"
    strength: float = Field(1.0, ge=0.0, le=1.0)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    quality: Literal["fast", "balanced", "best"] = "fast"
    iterations: Optional[int] = Field(None, ge=1, le=1000)
    name: Optional[str] = Field(None, max_length=200)


def run_harmonize(inputs, params: HarmonizeParams, progress, cancelled, cache) -> OpResult:
    """The harmonized crop, its alpha the pasted object's mask, ready to stack."""
    from ..engine.harmonize import harmonize

    result = harmonize(inputs["image"], inputs["mask"], **params.model_dump(exclude={"name"}),
                       progress=progress, cancelled=cancelled, layer_name=params.name or "Harmonized")
    layers = []
    for layer in result.layers:
        rgba = np.dstack([layer.rgb, layer.mask])
        h, w = layer.mask.shape
        layers.append(ResultLayer(layer.name, layer.x, layer.y, w, h, encode_png(rgba)))
    return OpResult(layers, result.encoder, result.device)


class SegmentParams(Params):
    target: Literal["subject", "person", "refine"] = "subject"


def run_segment(inputs, params: SegmentParams, progress, cancelled, cache) -> OpResult:
    """The mask as a full-size layer of kind "mask": gray in R, G and B, opaque."""
    from ..engine.devices import pick_device
    from ..engine.segment import segment
    from ..errors import InputError

    hint = inputs.get("hint")
    if params.target == "refine" and (hint is None or not hint.any()):
        raise InputError("refine needs a selection to refine: select roughly around the object first")
    result = segment(inputs["image"], params.target, hint, progress=progress, cancelled=cancelled)
    h, w = result.mask.shape
    rgba = np.dstack([result.mask] * 3 + [np.full((h, w), 255, np.uint8)])
    layer = ResultLayer("Selection", 0, 0, w, h, encode_png(rgba), kind="mask")
    return OpResult([layer], "none", str(pick_device()),
                    info={"method": result.method, "warnings": list(result.warnings)})


OPS: dict[str, Op] = {
    "stylize": Op(StylizeParams, {"image": "image", "mask": "mask", "style": "style",
                                  **{f"{kind}{i}": kind for i in range(MAX_REGIONS) for kind in ("mask", "style")},
                                  "rest": "style"},
                  ("image",), run_stylize, check_stylize_parts),
    "blur": Op(BlurParams, {"image": "image", "mask": "mask"}, ("image", "mask"), run_blur),
    "harmonize": Op(HarmonizeParams, {"image": "image", "mask": "mask"}, ("image", "mask"),
                    run_harmonize),
    "segment": Op(SegmentParams, {"image": "image", "hint": "hint"}, ("image",), run_segment),
}
