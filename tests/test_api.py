"""The flat public API: every lazy name resolves, and stays what it is after imports."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import footfall as ff


def test_all_matches_the_lazy_map():
    errors = {"FootfallError", "IndexBuildError", "InputError", "ZoneError", "__version__"}
    assert set(ff.__all__) == set(ff._LAZY) | errors
    assert len(ff.__all__) == len(set(ff.__all__))


def test_every_public_name_resolves_to_a_class_or_function():
    for name in ff._LAZY:
        value = getattr(ff, name)
        assert inspect.isclass(value) or inspect.isfunction(value), name


def test_importing_every_submodule_does_not_shadow_a_public_name():
    for module in set(ff._LAZY.values()):
        importlib.import_module(module)
    for name in ff._LAZY:
        assert not inspect.ismodule(getattr(ff, name)), name


def test_import_is_light():
    # `import footfall` and `footfall --help` must not pull numba, geopandas or dask.
    code = (
        "import sys, footfall, footfall.cli;"
        "heavy = [m for m in ('numba', 'geopandas', 'dask', 'shapely') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_unknown_name_is_an_attribute_error():
    try:
        ff.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")
