"""What every benchmark section shares: the point mixes, the context, the timing helpers."""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import shapely

from footfall.index import ZoneIndex
from footfall.zones import ZoneSet

__all__ = ["SEED", "MIXES", "Row", "BenchContext", "make_points"]


#: Seed of the point mixes (the first day of the 2020 lockdown in France).
SEED = 20200317
#: Mix name -> share of points within 2 km of a zone centre; the rest is uniform
#: over mainland France's bounding box.
MIXES: dict[str, float] = {"city": 0.40, "national": 0.03}
MAINLAND_BOUNDS = (-5.2, 42.3, 8.3, 51.1)  # lon/lat box of mainland France
NEAR_KM = 2.0

Row = dict[str, Any]


def make_points(
    zones: ZoneSet, n: int, near_share: float, seed: int = SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` points: ``near_share`` within 2 km of zone centres, the rest over mainland France.

    Parameters
    ----------
    zones : ZoneSet
        Zones whose centres (centroids) attract the near points; each zone
        equally likely.
    n : int
        Number of points.
    near_share : float
        Share of points drawn uniformly in a 2 km disc around a zone centre.
    seed : int
        Seed of the generator; the same seed gives the same points.

    Returns
    -------
    lon, lat : numpy.ndarray of float64
        Shuffled, so that near and far points interleave.
    """
    rng = np.random.default_rng(seed)
    n_near = int(round(n * near_share))
    centres = shapely.centroid(zones.gdf.geometry.to_numpy())
    k = rng.integers(0, len(centres), n_near)
    cx, cy = shapely.get_x(centres)[k], shapely.get_y(centres)[k]
    r = NEAR_KM * np.sqrt(rng.random(n_near))
    a = rng.uniform(0.0, 2.0 * np.pi, n_near)
    near_lat = cy + r * np.sin(a) / 111.32
    near_lon = cx + r * np.cos(a) / (111.32 * np.cos(np.radians(cy)))
    x0, y0, x1, y1 = MAINLAND_BOUNDS
    lon = np.concatenate([near_lon, rng.uniform(x0, x1, n - n_near)])
    lat = np.concatenate([near_lat, rng.uniform(y0, y1, n - n_near)])
    order = rng.permutation(n)
    return lon[order], lat[order]


@dataclass
class BenchContext:
    """What the sections share: zones, index, point mixes and run options."""

    zones: ZoneSet
    points: int = 10_000_000
    peer_points: int = 1_000_000
    repeat: int = 3
    seed: int = SEED
    progress: Callable[[str], None] = field(default=lambda message: None)

    @cached_property
    def index(self) -> ZoneIndex:
        """The zone index (its build time is recorded in ``build_seconds``)."""
        return ZoneIndex(self.zones, cache=False)

    @cached_property
    def mixes(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Mix name -> (lon, lat), ``points`` points each."""
        return {
            name: make_points(self.zones, self.points, share, self.seed + i)
            for i, (name, share) in enumerate(MIXES.items())
        }


def _best_time(func: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best, result


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes there, kB here
