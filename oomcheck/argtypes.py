"""Argument types shared by the command-line modules: each rejects bad input with one clear line."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def _number(text: str, conv: Callable[[str], float], ok: Callable[[float], bool], rule: str) -> float:
    try:
        v = conv(text)
    except ValueError:
        kind = "whole number" if conv is int else "number"
        raise argparse.ArgumentTypeError(f"not a {kind}: {text!r}") from None
    if not ok(v):
        raise argparse.ArgumentTypeError(f"{rule}: {text}")
    return v


def positive(text: str) -> int:
    return int(_number(text, int, lambda v: v >= 1, "must be at least 1"))


def natural(text: str) -> int:
    return int(_number(text, int, lambda v: v >= 0, "must not be negative"))


def seconds(text: str) -> float:
    return _number(text, float, lambda v: v > 0, "must be positive")


def fraction(text: str) -> float:
    return _number(text, float, lambda v: 0.0 <= v < 1.0, "must be in [0, 1)")


def nonneg(text: str) -> float:
    return _number(text, float, lambda v: v >= 0.0, "must not be negative")


def knob(text: str) -> tuple[str, str]:
    k, sep, v = text.partition("=")
    if not sep or not k or not v:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return k, v


# the command-line option of each model size
SIZE_OPTIONS = {"threads": "--threads", "vmas": "--vmas", "ptes": "--ptes", "tasks": "--tasks"}
