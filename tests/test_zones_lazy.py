"""The zone-set cache: a warm read of GeoJSON zones (and of their index) without pandas."""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal

import footfall as ff
from footfall.errors import ZoneError
from footfall.zones import _cache


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("FOOTFALL_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def own_zones(zones_dir, tmp_path) -> Path:
    """A copy of the small towns' zone files, free to edit."""
    folder = tmp_path / "zones"
    shutil.copytree(zones_dir, folder)
    return folder


def _entries(cache: Path) -> list[Path]:
    folder = cache / f"zones-v{_cache.FORMAT_VERSION}"
    return sorted(folder.glob("*.json")) if folder.exists() else []


def _lazy(path: Path) -> ff.ZoneSet:
    """A cache hit: read once to store the entry, then again."""
    ff.read_zones(path)
    zones = ff.read_zones(path)
    assert zones._pending is not None  # a lazily read set, its table not built
    return zones


_SCRIPT = """
import json, sys
import footfall as ff
zones = ff.read_zones(sys.argv[1])
index = ff.ZoneIndex(zones)
out = {"hash": zones.hash, "ids": zones._ids, "n": len(zones), "from_cache": index.from_cache,
       "index_ids": index.zone_ids.tolist(),
       "loaded": [m for m in ("pandas", "geopandas", "pyproj") if m in sys.modules]}
print(json.dumps(out))
"""


def test_a_warm_read_and_index_load_import_neither_pandas_nor_geopandas(zones_dir, tmp_path):
    env = {**__import__("os").environ, "FOOTFALL_CACHE_DIR": str(tmp_path / "cache")}

    def run() -> dict:
        args = [sys.executable, "-c", _SCRIPT, str(zones_dir)]
        out = subprocess.run(args, capture_output=True, text=True, check=True, env=env)
        return json.loads(out.stdout)

    cold, warm = run(), run()
    assert not cold["from_cache"] and "geopandas" in cold["loaded"]
    assert warm["from_cache"]
    assert warm["loaded"] == []
    assert (warm["hash"], warm["ids"], warm["n"]) == (cold["hash"], cold["ids"], cold["n"])
    assert warm["index_ids"] == cold["index_ids"] == cold["ids"]
    eager = ff.read_zones(zones_dir, cache=False)
    assert warm["hash"] == eager.hash and warm["ids"] == eager.zone_ids.tolist()


def test_lazy_and_eager_sets_agree(zones_dir, cache):
    eager = ff.read_zones(zones_dir, cache=False)
    lazy = _lazy(zones_dir)
    # answered from the entry
    assert lazy.hash == eager.hash and lazy._ids == eager._ids == eager.zone_ids.tolist()
    assert len(lazy) == len(eager) and list(lazy) == list(eager)
    assert eager._ids[0] in lazy and "nowhere" not in lazy
    assert repr(lazy) == repr(eager) and lazy.sources == eager.sources
    assert lazy._geometry_digest() == eager._geometry_digest()
    assert lazy._pending is not None
    # the table, read on first use
    assert_geodataframe_equal(lazy.gdf, eager.gdf)
    assert lazy._pending is None and lazy.hash == eager.hash
    assert lazy.zone_ids.equals(eager.zone_ids)
    assert lazy.validate() == eager.validate()
    zid = eager._ids[1]
    assert _lazy(zones_dir)[zid].equals(eager[zid])
    assert _lazy(zones_dir).subset([zid]).hash == eager.subset([zid]).hash
    assert _lazy(zones_dir).area_km2.equals(eager.area_km2)
    assert pickle.loads(pickle.dumps(_lazy(zones_dir))).hash == eager.hash


def test_a_changed_byte_is_a_miss_with_a_new_hash(own_zones, cache):
    before = _lazy(own_zones)
    path = next(own_zones.glob("30007-*.geojson"))
    path.write_text(path.read_text().replace('"population": 40219', '"population": 40220'))
    after = ff.read_zones(own_zones)
    assert after._pending is None  # read now: no entry for these bytes
    assert after.hash != before.hash and after._ids == before._ids
    assert after.hash == ff.read_zones(own_zones, cache=False).hash
    assert len(_entries(cache)) == 2
    assert ff.read_zones(own_zones)._pending is not None  # and now cached in turn


def test_files_edited_after_a_lazy_read_are_refused(own_zones, cache):
    lazy = _lazy(own_zones)
    path = next(own_zones.glob("30007-*.geojson"))
    path.write_text(path.read_text().replace('"name": "Alès"', '"name": "Ales"'))
    with pytest.raises(ZoneError, match=f"{own_zones}: zone files changed since they were read"):
        lazy.gdf  # noqa: B018
    assert _entries(cache) == []  # the entry of the old bytes went too
    # the same content in other bytes is no change
    lazy = _lazy(own_zones)
    path.write_text(path.read_text().replace("\n", "\r\n"))
    assert lazy.gdf["name"].tolist() == ff.read_zones(own_zones, cache=False).gdf["name"].tolist()


def test_no_cache_neither_reads_nor_writes_entries(zones_dir, cache):
    eager = ff.read_zones(zones_dir, cache=False)
    assert eager._pending is None and not cache.exists()
    ff.read_zones(zones_dir)
    (entry,) = _entries(cache)
    data = json.loads(entry.read_text())
    entry.write_text(json.dumps({**data, "hash": "0" * 64}))
    assert ff.read_zones(zones_dir).hash == "0" * 64  # the cache is read...
    assert ff.read_zones(zones_dir, cache=False).hash == eager.hash  # ...but not with False
    assert ff.read_zones(zones_dir / eager.sources[0].name, cache=False)._pending is None
    lying = ff.read_zones(zones_dir)
    with pytest.raises(ZoneError, match="changed since they were read"):
        lying.gdf  # noqa: B018


def test_an_unreadable_entry_is_a_miss(zones_dir, cache):
    ff.read_zones(zones_dir)
    (entry,) = _entries(cache)
    entry.write_text('{"key": ')
    zones = ff.read_zones(zones_dir)
    assert zones._pending is None
    assert ff.read_zones(zones_dir)._pending is not None  # rewritten whole


def test_an_index_of_a_lazy_set_assigns_as_one_of_an_eager_set(zones_dir, cache):
    eager = ff.read_zones(zones_dir, cache=False)
    built = ff.ZoneIndex(eager)
    lazy = _lazy(zones_dir)
    index = ff.ZoneIndex(lazy)
    assert index.from_cache and lazy._pending is not None  # keyed and loaded without the table
    assert index.zone_ids.dtype == built.zone_ids.dtype
    assert index.zone_ids.tolist() == built.zone_ids.tolist() == eager._ids
    rng = np.random.default_rng(5)
    boxes = eager.gdf.bounds.to_numpy()  # points over each zone's box and 1 km around it
    box = boxes[rng.integers(0, len(boxes), 50_000)]
    vertices = shapely.get_coordinates(eager.gdf.geometry.values)
    lon = np.concatenate([rng.uniform(box[:, 0] - 0.01, box[:, 2] + 0.01), vertices[:, 0]])
    lat = np.concatenate([rng.uniform(box[:, 1] - 0.01, box[:, 3] + 0.01), vertices[:, 1]])
    expected = built.assign(lon, lat)
    assert (expected >= 0).sum() > 1000
    np.testing.assert_array_equal(index.assign(lon, lat), expected)
    # a fresh build from the lazily read table too
    np.testing.assert_array_equal(ff.ZoneIndex(lazy, cache=False).assign(lon, lat), expected)
