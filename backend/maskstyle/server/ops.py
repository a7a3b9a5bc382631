"""The operations the backend runs. Adding one is one params model, one function, one entry.

Each op declares its parameters (pydantic, named as on the command line, with ranges) and
its file parts; its function gets decoded arrays and returns layers for GIMP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Optional

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..images import encode_png


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
    method: Literal["masked", "composite"] = "masked"
    iterations: Optional[int] = Field(None, ge=1, le=1000)
    max_side: Optional[int] = Field(None, ge=32, le=4096)
    name: Optional[str] = Field(None, max_length=200)


@dataclass
class Op:
    params: type[Params]
    files: dict[str, str]       # part name -> "image" | "mask" | "style" | "hint"
    required: tuple[str, ...]
    run: Callable[..., OpResult]


def layer_from(engine_layer, kind: str = "image") -> ResultLayer:
    h, w = engine_layer.mask.shape
    return ResultLayer(engine_layer.name, engine_layer.x, engine_layer.y, w, h,
                       encode_png(engine_layer.rgba), kind)


def run_stylize(inputs: dict[str, np.ndarray], params: StylizeParams, progress, cancelled,
                cache) -> OpResult:
    from ..engine.stylize import StylizeOptions, stylize

    options = StylizeOptions(**params.model_dump(exclude={"name"}))
    result = stylize(inputs["image"], inputs["mask"], inputs["style"], options, progress=progress,
                     cancelled=cancelled, cache=cache, layer_name=params.name or "Stylized")
    return OpResult([layer_from(layer) for layer in result.layers], result.encoder, result.device)


OPS: dict[str, Op] = {
    "stylize": Op(StylizeParams, {"image": "image", "mask": "mask", "style": "style"},
                  ("image", "mask", "style"), run_stylize),
}
