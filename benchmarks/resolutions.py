"""Index build time, size and assign speed against the H3 resolution of the cover.

Usage: .venv/bin/python benchmarks/resolutions.py [POINTS]   (default 5 M per mix)
Backs the automatic choice of resolution documented in benchmarks/README.md.
"""

from __future__ import annotations

import sys
import time

import footfall as ff
from footfall.bench import MIXES, SEED, make_points


def main(points: int) -> None:
    zones = ff.read_zones("zones/")
    mixes = {
        name: make_points(zones, points, share, SEED + i)
        for i, (name, share) in enumerate(MIXES.items())
    }
    auto = ff.ZoneIndex(zones).resolution
    print(f"{len(zones)} zones, {points:,} points per mix, automatic resolution {auto}")
    print(
        f"{'res':>3} {'build s':>8} {'MB':>6} {'cells':>8} "
        + " ".join(f"{m + ' M/s':>13}" for m in mixes)
    )
    for res in (9, 10, 11, 12):
        index = ff.ZoneIndex(zones, resolution=res)
        rates = []
        for lon, lat in mixes.values():
            index.assign(lon[:1000], lat[:1000])
            best = min(_timed(index, lon, lat) for _ in range(3))
            rates.append(points / best / 1e6)
        print(
            f"{res:>3} {index.build_seconds:>8.2f} {index.nbytes / 1e6:>6.1f} "
            f"{index.cells['cell'].nunique():>8,} " + " ".join(f"{r:>13.1f}" for r in rates)
        )


def _timed(index: ff.ZoneIndex, lon, lat) -> float:
    start = time.perf_counter()
    index.assign(lon, lat)
    return time.perf_counter() - start


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5_000_000)
