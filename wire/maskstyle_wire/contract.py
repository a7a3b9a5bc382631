"""The HTTP contract between clients and the backend, defined once.

Every list of choices, every range and every default that a client or the server needs is
here. The server's pydantic models, the command line's argparse options and the GIMP
dialogs' arguments are derived from OPERATIONS; `describe()` is what `GET /v1/info` serves, so
a client can tell that it talks to a backend of another contract version.

The one result rule: every returned layer is an RGBA PNG placed at (x, y) on the image, and
its alpha is its mask (how much of the layer covers the image). Segment's layer is the mask
itself: gray in R, G and B, and the same values in alpha.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CONTRACT_VERSION = 2  # raised whenever a change breaks an older client or server

QUALITIES = (("fast", "Fast"), ("balanced", "Balanced"), ("best", "Best"))
ENCODERS = (("auto", "Automatic"), ("builtin", "Built-in (no weights)"), ("vgg19", "VGG-19"))
METHODS = (("patch", "Patch synthesis"), ("neural", "Neural (Gatys et al. 2016)"))
SEAMS = (("none", "As selected"), ("feather", "Feather"), ("graphcut", "Graph cut"))
REGION_METHODS = (("masked", "Masked Gram matrices"), ("surrogate", "Surrogate"))
HARMONIZE_MODES = (("photo", "Photo"), ("painterly", "Painterly"))
SEGMENT_TARGETS = (("subject", "Main subject"), ("person", "Person"), ("refine", "Refine selection"))

MAX_REGIONS = 6          # regions in one stylize job
MIN_SIDE, MAX_SIDE = 32, 4096   # the crop's working size
MAX_ITERATIONS = 2000    # per scale (neural) or per patch size (patch synthesis)
MAX_SEED = 2**31 - 1
MAX_NAME = 200           # characters in a layer name


def _number(value) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


class ContractError(ValueError):
    """A request that breaks the contract; the text is written for a person."""


@dataclass(frozen=True)
class Param:
    """One parameter of an operation, as every client and the server see it."""

    name: str
    kind: str                      # "choice", "float", "int", "bool", "text" or "texts"
    default: object = None         # None: optional (the engine picks)
    label: str = ""
    help: str = ""
    choices: tuple = ()            # ((value, label), ...) for kind "choice"
    minimum: float | None = None
    maximum: float | None = None   # for "text"/"texts": the longest text

    @property
    def values(self) -> tuple:
        return tuple(value for value, _ in self.choices)

    def check(self, value):
        """The value, checked and converted; ContractError with a readable reason when it is wrong."""
        if value is None:
            if self.default is None:
                return None
            raise ContractError(f"{self.name} cannot be empty")
        if self.kind == "choice":
            if value not in self.values:
                raise ContractError(f"{self.name} must be one of {', '.join(self.values)}, not '{value}'")
            return value
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ContractError(f"{self.name} must be true or false, not {value!r}")
            return value
        if self.kind in ("int", "float"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                    self.kind == "int" and not float(value).is_integer()):
                raise ContractError(f"{self.name} must be {'a whole number' if self.kind == 'int' else 'a number'}, "
                                    f"not {value!r}")
            value = int(value) if self.kind == "int" else float(value)
            if not self.minimum <= value <= self.maximum:
                raise ContractError(f"{self.name} must be between {_number(self.minimum)} and "
                                    f"{_number(self.maximum)}, not {_number(value)}")
            return value
        texts = [value] if self.kind == "text" else value
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise ContractError(f"{self.name} must be {'a text' if self.kind == 'text' else 'a list of texts'}")
        if any(len(t) > self.maximum for t in texts):
            raise ContractError(f"{self.name} must be at most {_number(self.maximum)} characters long")
        return value

    def describe(self) -> dict:
        out = {"name": self.name, "kind": self.kind, "default": self.default, "label": self.label,
               "help": self.help}
        if self.choices:
            out["choices"] = [{"value": v, "label": label} for v, label in self.choices]
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        return out


@dataclass(frozen=True)
class Operation:
    """An operation: its parameters and its file parts.

    files maps part name -> kind: "image" (RGB or RGBA), "style" (a painting), "mask" (8-bit gray,
    the image's size, not empty) or "hint" (a mask that may be empty)."""

    name: str
    params: tuple
    files: dict = field(default_factory=dict)
    required: tuple = ("image",)

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)

    def check(self, params: dict) -> dict:
        """All parameters, checked, with defaults filled in. Unknown names are errors."""
        unknown = sorted(set(params) - {p.name for p in self.params})
        if unknown:
            raise ContractError(f"{self.name} has no parameter {', '.join(map(repr, unknown))}")
        return {p.name: p.check(params.get(p.name, p.default)) for p in self.params}

    def describe(self) -> dict:
        return {"params": [p.describe() for p in self.params], "files": dict(self.files),
                "required": list(self.required)}


def _strength(help_text: str) -> Param:
    return Param("strength", "float", 1.0, "S_trength", help_text, minimum=0.0, maximum=1.0)


SEED = Param("seed", "int", 0, "S_eed", "The same seed gives the same result on the same device",
             minimum=0, maximum=MAX_SEED)
NAME = Param("name", "text", None, "", "The result layer's name", maximum=MAX_NAME)
ITERATIONS = Param("iterations", "int", None, "", "Rounds per scale or patch size; overrides the quality",
                   minimum=1, maximum=MAX_ITERATIONS)

STYLIZE = Operation("stylize", (
    Param("quality", "choice", "balanced", "_Quality", "Faster or finer results", QUALITIES),
    _strength("How much of the style to apply"),
    SEED,
    Param("preserve_color", "bool", False, "_Preserve colors", "Transfer the style on lightness only"),
    Param("encoder", "choice", "auto", "", "The neural method's feature encoder", ENCODERS),
    Param("method", "choice", "patch", "", "patch (default): the painting's own marks, by texture "
          "synthesis (Elad and Milanfar 2017), fast and weight-free; neural: optimise the encoder's "
          "features against masked Gram matrices (Gatys et al. 2016)", METHODS),
    ITERATIONS,
    Param("max_side", "int", None, "", "The crop's working size in pixels; overrides the quality",
          minimum=MIN_SIDE, maximum=MAX_SIDE),
    NAME,
    Param("seam", "choice", "none", "Sea_m", "How the result meets the original at the selection's edge: "
          "as selected, feathered, or along a graph cut where they differ least", SEAMS),
    Param("seam_width", "int", None, "", "The seam's band in pixels (default: 3% of the crop)",
          minimum=2, maximum=512),
    Param("boundary_tv", "float", 0.0, "", "Neural method: extra smoothing near region borders "
          "(boundary total variation, Tamir et al.), e.g. 50; 0 = off",
          minimum=0.0, maximum=1e4),
    Param("regions_method", "choice", "masked", "", "Neural method: how regions share one optimisation",
          REGION_METHODS),
    Param("names", "texts", None, "", "One layer name per region", maximum=MAX_NAME),
    Param("rest_name", "text", None, "", "The layer name for the rest's style", maximum=MAX_NAME),
), {"image": "image", "mask": "mask", "style": "style",
    **{f"{kind}{i}": kind for i in range(MAX_REGIONS) for kind in ("mask", "style")},
    "rest": "style"})

HARMONIZE = Operation("harmonize", (
    Param("mode", "choice", "photo", "_Mode", "Match a photo, or a painting", HARMONIZE_MODES),
    _strength("How strongly to match the surroundings"),
    SEED,
    Param("quality", "choice", "fast", "_Quality", "Painterly: faster or finer results", QUALITIES),
    ITERATIONS,
    NAME,
), {"image": "image", "mask": "mask"}, ("image", "mask"))

SEGMENT = Operation("segment", (
    Param("target", "choice", "subject", "_Target", "What to select", SEGMENT_TARGETS),
), {"image": "image", "hint": "hint"})

BLUR = Operation("blur", (
    Param("radius", "float", None, "Radi_us", "How far the background is blurred, in pixels "
          "(empty: 1.2% of the image's longest side)", minimum=1.0, maximum=200.0),
    NAME,
), {"image": "image", "mask": "mask"}, ("image", "mask"))

OPERATIONS = {op.name: op for op in (STYLIZE, HARMONIZE, SEGMENT, BLUR)}
MAX_FILE_PARTS = max(len(op.files) for op in OPERATIONS.values())

# The job's life, as GET /v1/jobs/{id} reports it.
JOB_STATES = ("queued", "running", "done", "failed", "cancelled")
FINAL_STATES = ("done", "failed", "cancelled")


def describe() -> dict:
    """The contract as JSON, served by GET /v1/info."""
    return {"version": CONTRACT_VERSION, "max_regions": MAX_REGIONS,
            "operations": {name: op.describe() for name, op in OPERATIONS.items()},
            "result": "RGBA PNG layers at (x, y); alpha is the layer's mask"}


def choice_values(op: str, param: str) -> tuple:
    return OPERATIONS[op].param(param).values
