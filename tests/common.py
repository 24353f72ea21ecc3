"""Shared test geometries and zone-file builders."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Alès town hall, roughly: a real place so that areas and projections are realistic.
ALES = (4.0812, 44.1250)

PROPS: dict[str, Any] = {
    "zone_id": "30007-centre",
    "name": "Alès",
    "insee": "30007",
    "population": 40219,
    "department": "30",
    "region": "Occitanie",
    "metro_continuity": False,
    "tourist": None,
}


def square(lon: float, lat: float, half_m: float) -> list[list[float]]:
    """Closed counter-clockwise ring of a square of side 2*half_m metres, 6 decimals."""
    dlat = half_m / 111_320.0
    dlon = half_m / (111_320.0 * math.cos(math.radians(lat)))
    ring = [
        [lon - dlon, lat - dlat],
        [lon + dlon, lat - dlat],
        [lon + dlon, lat + dlat],
        [lon - dlon, lat + dlat],
    ]
    ring = [[round(x, 6), round(y, 6)] for x, y in ring]
    return [*ring, ring[0]]


def polygon(*rings: list[list[float]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [copy.deepcopy(r) for r in rings]}


def feature(geometry: Any = None, **props: Any) -> dict[str, Any]:
    """A zone Feature: Alès properties overridden by ``props``, a 1 km² square by default."""
    if geometry is None:
        geometry = polygon(square(*ALES, 500))
    return {"type": "Feature", "properties": PROPS | props, "geometry": geometry}


def town(insee: str, lon: float, lat: float, half_m: float = 500, **props: Any) -> dict:
    """A zone Feature of another town with consistent properties."""
    own = {"zone_id": f"{insee}-centre", "insee": insee, "name": f"Town {insee}"}
    return feature(polygon(square(lon, lat, half_m)), **(own | {"department": insee[:2]} | props))


def collection(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def write_json(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def rewrite_checkpoint(path: Path, change: Callable[[Any], None]) -> None:
    """Apply ``change`` to the partial of a finished checkpoint and write it back.

    Tests use it to prove that a resumed run reuses a checkpoint instead of mapping its
    fragment again.
    """
    from footfall.count._checkpoint import _read_meta, _save_partial, load_partial

    meta = _read_meta(path)
    part = load_partial(path)
    change(part)
    _save_partial(part, path, {"path": meta["path"], "key": meta["key"]})
