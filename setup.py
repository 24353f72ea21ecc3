"""Ship the zone set inside the wheel: ``zones/*.geojson`` -> ``footfall/zones/data/``.

The checkout keeps one copy, ``zones/`` (edited by analysts, named by the README and
the tests); the build copies it into the package so that ``pip install footfall``
gets the 423 zones (``footfall.read_zones()`` with no argument). Editable installs
read the checkout's ``zones/`` directly (see ``footfall.zones.default_zones``).
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ZONES = Path(__file__).resolve().parent / "zones"


class BuildPyWithZones(build_py):
    """``build_py`` that also copies the zone set into ``footfall/zones/data``."""

    def run(self):  # noqa: D102
        super().run()
        if getattr(self, "editable_mode", False):
            return
        files = sorted(ZONES.glob("*.geojson"))
        if not files:
            raise RuntimeError(f"no zone files in {ZONES}: the wheel would ship no zones")
        target = Path(self.build_lib) / "footfall" / "zones" / "data"
        target.mkdir(parents=True, exist_ok=True)
        for f in [*files, ZONES / "README.md"]:
            if f.exists():
                shutil.copyfile(f, target / f.name)


setup(cmdclass={"build_py": BuildPyWithZones})
