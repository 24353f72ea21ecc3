"""Lazy public names of a package (PEP 562): ``import footfall`` stays fast."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(
    package: str, lazy: Mapping[str, str], public: Sequence[str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return a package's ``__getattr__`` and ``__dir__`` for the names of `lazy`.

    Parameters
    ----------
    package : str
        The package's name, for the error message.
    lazy : mapping
        Public name -> module that defines it, imported on first use.
    public : sequence of str
        The package's ``__all__``.
    namespace : dict
        The package's ``globals()``: a name, once loaded, is kept there.
    """

    def __getattr__(name: str) -> Any:
        module = lazy.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(public))

    return __getattr__, __dir__
