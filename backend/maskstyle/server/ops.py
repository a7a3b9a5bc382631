"""The operations the backend runs: the contract's operations (maskstyle_wire.contract), each
with the function that runs it.

The parameters' pydantic models are derived from the contract, so a choice or a limit is
defined there once. By the contract's one result rule every layer is RGBA and its alpha is its
mask; segment's layer is the mask itself (gray, and the same values in alpha).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Callable, Literal, Optional

import numpy as np
from maskstyle_wire import contract
from maskstyle_wire.geometry import Rect
from pydantic import BaseModel, ConfigDict, Field, create_model

from ..errors import InputError
from ..images import encode_png

_REGION_PART = re.compile(r"(mask|style)(\d+)")


@dataclass
class ResultLayer:
    name: str
    rect: Rect                 # where it lies in the submitted image (the manifest's x, y, width, height)
    png: bytes                 # RGBA; alpha is the layer's mask


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


def _annotation(param: contract.Param):
    """The pydantic type and field for one contract parameter."""
    limits = {"ge": param.minimum, "le": param.maximum} if param.kind in ("int", "float") else {}
    if param.kind == "choice":
        kind = Literal[param.values]
    elif param.kind == "texts":
        kind = list[Annotated[str, Field(max_length=int(param.maximum))]]
        limits = {"max_length": contract.MAX_REGIONS + 1}  # one per region, and the rest's
    elif param.kind == "text":
        kind, limits = str, {"max_length": int(param.maximum)}
    else:
        kind = {"int": int, "float": float, "bool": bool}[param.kind]
    if param.default is None:
        return Optional[kind], Field(None, **limits)
    return kind, Field(param.default, **limits)


def params_model(op: contract.Operation) -> type[Params]:
    """The pydantic model of an operation's parameters, derived from the contract."""
    fields = {param.name: _annotation(param) for param in op.params}
    return create_model(f"{op.name.title()}Params", __base__=Params, **fields)


StylizeParams = params_model(contract.STYLIZE)
HarmonizeParams = params_model(contract.HARMONIZE)
SegmentParams = params_model(contract.SEGMENT)
BlurParams = params_model(contract.BLUR)


@dataclass
class Op:
    contract: contract.Operation
    params: type[Params]
    run: Callable[..., OpResult]
    check: Optional[Callable[[dict], None]] = None   # on the parts sent, before decoding


    @property
    def files(self) -> dict:
        return self.contract.files

    @property
    def required(self) -> tuple:
        return self.contract.required


def layer_from(engine_layer) -> ResultLayer:
    """An engine layer as the contract returns it: its pixels, and its mask as alpha."""
    return ResultLayer(engine_layer.name, engine_layer.rect, encode_png(engine_layer.rgba))


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
    """One region from 'mask' and 'style', or several from maskN/styleN (and 'rest')."""
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
    return OpResult([layer_from(layer) for layer in result.layers],
                    result.encoder, result.device, info={"method": result.method})


def run_blur(inputs, params: BlurParams, progress, cancelled, cache) -> OpResult:
    """The whole image with the background disc-blurred and the subject sharp: one opaque layer."""
    from ..engine.blur import portrait_blur

    out = portrait_blur(inputs["image"], inputs["mask"], params.radius, progress=progress,
                        cancelled=cancelled)
    h, w = out.shape[:2]
    rgba = np.dstack([out, np.full((h, w), 255, np.uint8)])
    return OpResult([ResultLayer(params.name or "Portrait blur", Rect(0, 0, w, h), encode_png(rgba))],
                    "none", "cpu")


def run_harmonize(inputs, params: HarmonizeParams, progress, cancelled, cache) -> OpResult:
    """The harmonized crop, its alpha the pasted object's mask, ready to stack."""
    from ..engine.harmonize import harmonize

    result = harmonize(inputs["image"], inputs["mask"], **params.model_dump(exclude={"name"}),
                       progress=progress, cancelled=cancelled, layer_name=params.name or "Harmonized")
    return OpResult([layer_from(layer) for layer in result.layers], result.encoder, result.device)


def run_segment(inputs, params: SegmentParams, progress, cancelled, cache) -> OpResult:
    """The mask as a full-size layer: gray in R, G and B, and the same values in alpha."""
    from ..engine.devices import pick_device
    from ..engine.segment import segment
    from ..errors import InputError

    hint = inputs.get("hint")
    if params.target == "refine" and (hint is None or not hint.any()):
        raise InputError("refine needs a selection to refine: select roughly around the object first")
    result = segment(inputs["image"], params.target, hint, progress=progress, cancelled=cancelled)
    h, w = result.mask.shape
    layer = ResultLayer("Selection", Rect(0, 0, w, h), encode_png(np.dstack([result.mask] * 4)))
    return OpResult([layer], "none", str(pick_device()),
                    info={"method": result.method, "warnings": list(result.warnings)})


OPS: dict[str, Op] = {
    "stylize": Op(contract.STYLIZE, StylizeParams, run_stylize, check_stylize_parts),
    "blur": Op(contract.BLUR, BlurParams, run_blur),
    "harmonize": Op(contract.HARMONIZE, HarmonizeParams, run_harmonize),
    "segment": Op(contract.SEGMENT, SegmentParams, run_segment),
}
assert set(OPS) == set(contract.OPERATIONS)
