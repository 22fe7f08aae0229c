"""Constraints of botocore's service models that every layer checks the same way, whatever its protocol and
error shape."""

from __future__ import annotations

from typing import Any


def bounds_violation(value: Any, kind: str, meta: dict) -> str | None:
    """The min/max violated by a value of a model shape (a range for numbers, a length for strings and lists), in the
    words AWS validation errors use, or None."""
    size = value if kind in ("integer", "long") else len(value) if kind in ("string", "list") else None
    noun = "value" if kind in ("integer", "long") else "length"
    if size is not None and "min" in meta and size < meta["min"]:
        return f"Member must have {noun} greater than or equal to {meta['min']}"
    if size is not None and "max" in meta and size > meta["max"]:
        return f"Member must have {noun} less than or equal to {meta['max']}"
    return None
