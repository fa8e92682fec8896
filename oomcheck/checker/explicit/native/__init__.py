"""The native search core: the explicit engine's layer search (safety and deadlock) in C,
generated from the same compiled model as the Python engine, built with cffi."""

from oomcheck.checker.explicit.native.core import NativeUnavailableError

__all__ = ["NativeUnavailableError"]
