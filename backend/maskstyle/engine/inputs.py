"""Checks on what callers hand the engine: the images and masks, and the options the wire
contract (maskstyle_wire.contract) defines, checked by the contract itself."""

from __future__ import annotations

import numpy as np
from maskstyle_wire.contract import ContractError, Operation

from ..errors import InputError


def check_params(operation: Operation, values: dict) -> dict:
    """`values` checked and converted by the contract's `operation`, its defaults filled in;
    a broken rule is an InputError with the contract's reason."""
    try:
        return operation.check(values)
    except ContractError as exc:
        raise InputError(str(exc)) from None


def check_inputs(image: np.ndarray, mask: np.ndarray,
                 empty: str = "the mask is empty: nothing is selected") -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError("the image must be 8-bit RGB")
    if mask.shape != image.shape[:2]:
        raise InputError(
            f"the mask is {mask.shape[1]}x{mask.shape[0]} but the image is "
            f"{image.shape[1]}x{image.shape[0]}; they must be the same size")
    if not mask.any():
        raise InputError(empty)
