"""The on-disk cache of zone indexes: same answers, right folder, safe when corrupt or raced."""

from __future__ import annotations

import json
import multiprocessing
import pickle
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner

import footfall as ff
from footfall.cli import cli
from footfall.index import _cache
from footfall.index._cache import FORMAT_VERSION

ZONES_DIR = Path(__file__).resolve().parents[1] / "zones"

#: Five real towns: a build in a fraction of a second.
SMALL = sorted(ZONES_DIR.glob("*.geojson"))[:5]


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("FOOTFALL_CACHE_DIR", str(folder))
    return folder


@pytest.fixture(scope="module")
def small_zones(tmp_path_factory) -> ff.ZoneSet:
    folder = tmp_path_factory.mktemp("small-zones")
    for f in SMALL:
        shutil.copy(f, folder)
    return ff.read_zones(folder)


def _entries(cache: Path) -> list[Path]:
    folder = cache / f"index-v{FORMAT_VERSION}"
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _points(zones: ff.ZoneSet, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points over the zones' box and ~300 m around each zone, and every vertex."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = zones.gdf.total_bounds
    half = n // 2
    lon = rng.uniform(x0 - 0.1, x1 + 0.1, half)
    lat = rng.uniform(y0 - 0.1, y1 + 0.1, half)
    c = shapely.get_coordinates(shapely.centroid(zones.gdf.geometry.values))
    pick = rng.integers(0, len(c), n - half)
    near_lon = c[pick, 0] + rng.normal(0, 0.003, n - half)
    near_lat = c[pick, 1] + rng.normal(0, 0.003, n - half)
    v = shapely.get_coordinates(zones.gdf.geometry.values)
    return np.concatenate([lon, near_lon, v[:, 0]]), np.concatenate([lat, near_lat, v[:, 1]])


def test_cached_real_index_is_identical_and_assigns_the_same(cache):
    zones = ff.read_zones(ZONES_DIR)
    built = ff.ZoneIndex(zones)
    assert not built.from_cache
    (entry,) = _entries(cache)
    assert (entry / "meta.json").exists()
    loaded = ff.ZoneIndex(zones)
    assert loaded.from_cache
    assert loaded.resolution == built.resolution
    np.testing.assert_array_equal(loaded.zone_ids, built.zone_ids)
    for name, a, b in zip(built._arrays._fields, built._arrays, loaded._arrays, strict=True):
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and a.shape == b.shape, name
            np.testing.assert_array_equal(a, b, err_msg=name)
            assert isinstance(b.base, np.memmap), f"{name} is not memory-mapped"
        else:
            assert a == b and type(a) is type(b), name
    lon, lat = _points(zones, 1_000_000, 15)
    expected = built.assign(lon, lat)
    got = loaded.assign(lon, lat)
    np.testing.assert_array_equal(got, expected)
    n_vertices = len(shapely.get_coordinates(zones.gdf.geometry.values))
    assert (got[-n_vertices:] >= 0).all()  # boundary is inside
    assert (got >= 0).sum() > 0.2 * len(got)
    # the float32 path and a pickled copy (what Dask workers get) agree too
    x32 = lon[:1000].astype(np.float32)
    np.testing.assert_array_equal(loaded.assign(x32, lat[:1000]), built.assign(x32, lat[:1000]))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(loaded)).assign(lon, lat), expected)


def test_no_cache_neither_reads_nor_writes(cache, small_zones):
    ff.ZoneIndex(small_zones, cache=False)
    assert not cache.exists()
    ff.ZoneIndex(small_zones)
    (entry,) = _entries(cache)
    # a poisoned entry is never read without the cache
    (entry / "keys.npy").write_bytes(b"not an array")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        index = ff.ZoneIndex(small_zones, cache=False)
    assert not index.from_cache


def test_key_follows_geometry_ids_and_resolution(cache, small_zones):
    ff.ZoneIndex(small_zones)
    assert ff.ZoneIndex(small_zones).from_cache
    moved = small_zones.gdf.copy()
    moved.loc[0, "geometry"] = shapely.affinity.translate(moved.geometry[0], 1e-6, 0)
    assert not ff.ZoneIndex(ff.ZoneSet(moved)).from_cache
    renamed = small_zones.gdf.copy()
    renamed.loc[0, "zone_id"] = "99999-centre"
    assert not ff.ZoneIndex(ff.ZoneSet(renamed)).from_cache
    assert not ff.ZoneIndex(small_zones, resolution=10).from_cache
    assert len(_entries(cache)) == 4
    # properties the index does not use share the entry; so does a plain GeoDataFrame
    richer = small_zones.gdf.copy()
    richer["population"] += 1
    assert ff.ZoneIndex(ff.ZoneSet(richer)).from_cache
    assert ff.ZoneIndex(small_zones.gdf.to_crs("EPSG:4326")).from_cache
    assert len(_entries(cache)) == 4


def _corrupt_truncated(entry: Path) -> None:
    f = entry / "coarse.npy"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])


def _corrupt_flipped(entry: Path) -> None:
    f = entry / "vals.npy"
    data = bytearray(f.read_bytes())
    data[-7] ^= 0x01  # one bit of one zone row: same shape, wrong answers
    f.write_bytes(bytes(data))


def _corrupt_missing(entry: Path) -> None:
    (entry / "edge_v.npy").unlink()


def _corrupt_meta(entry: Path) -> None:
    (entry / "meta.json").write_text('{"key": ')


def _corrupt_no_meta(entry: Path) -> None:
    (entry / "meta.json").unlink()  # never read: rebuilt without a warning, then replaced


def _corrupt_shape(entry: Path) -> None:
    meta = json.loads((entry / "meta.json").read_text())
    np.save(entry / "xs.npy", np.zeros(3))
    (entry / "meta.json").write_text(json.dumps(meta))


@pytest.mark.parametrize(
    "corrupt",
    [
        _corrupt_truncated,
        _corrupt_flipped,
        _corrupt_missing,
        _corrupt_meta,
        _corrupt_no_meta,
        _corrupt_shape,
    ],
)
def test_corrupt_entry_is_rebuilt(cache, small_zones, corrupt):
    fresh = ff.ZoneIndex(small_zones)
    lon, lat = _points(small_zones, 20_000, 3)
    expected = fresh.assign(lon, lat)
    (entry,) = _entries(cache)
    corrupt(entry)
    if corrupt is _corrupt_no_meta:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            rebuilt = ff.ZoneIndex(small_zones)
    else:
        with pytest.warns(UserWarning, match="unreadable index cache entry"):
            rebuilt = ff.ZoneIndex(small_zones)
    assert not rebuilt.from_cache
    np.testing.assert_array_equal(rebuilt.assign(lon, lat), expected)
    again = ff.ZoneIndex(small_zones)
    assert again.from_cache
    np.testing.assert_array_equal(again.assign(lon, lat), expected)
    assert [p.name for p in (cache / f"index-v{FORMAT_VERSION}").iterdir()] == [entry.name]


def test_cache_dir_precedence_and_never_home_in_tests(tmp_path, monkeypatch):
    assert _cache.cache_dir() != Path.home() / ".cache" / "footfall"  # conftest's folder
    monkeypatch.setenv("FOOTFALL_CACHE_DIR", str(tmp_path / "own"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert _cache.cache_dir() == tmp_path / "own"
    monkeypatch.delenv("FOOTFALL_CACHE_DIR")
    assert _cache.cache_dir() == tmp_path / "xdg" / "footfall"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert _cache.cache_dir() == tmp_path / "home" / ".cache" / "footfall"


def test_xdg_cache_home_is_used(tmp_path, monkeypatch, small_zones):
    monkeypatch.delenv("FOOTFALL_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    ff.ZoneIndex(small_zones)
    assert len(_entries(tmp_path / "xdg" / "footfall")) == 1


def test_unwritable_cache_warns_and_still_indexes(tmp_path, monkeypatch, small_zones):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("FOOTFALL_CACHE_DIR", str(blocker))
    with pytest.warns(UserWarning, match="could not cache the zone index"):
        index = ff.ZoneIndex(small_zones)
    assert index.assign(*small_zones.gdf.geometry[0].representative_point().coords[0]) == 0


def _build_in_child(folder: str, zones_dir: str, barrier, queue) -> None:
    import os

    os.environ["FOOTFALL_CACHE_DIR"] = folder
    import footfall as ff

    zones = ff.read_zones(zones_dir)
    lon, lat = _points(zones, 20_000, 7)
    barrier.wait()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no corrupt entry may ever be seen
        index = ff.ZoneIndex(zones)
        second = ff.ZoneIndex(zones)
    queue.put((index.from_cache, second.from_cache, index.assign(lon, lat).tolist()))


def test_concurrent_builds_of_one_key_all_succeed(cache, small_zones, tmp_path):
    zones_dir = str(Path(small_zones.sources[0]).parent)
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(3), ctx.Queue()
    procs = [
        ctx.Process(target=_build_in_child, args=(str(cache), zones_dir, barrier, queue))
        for _ in range(3)
    ]
    for p in procs:
        p.start()
    results = [queue.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert all(second for _, second, _ in results)  # each reads back a complete entry
    assert len({tuple(r) for _, _, r in results}) == 1
    lon, lat = _points(small_zones, 20_000, 7)
    assert results[0][2] == ff.ZoneIndex(small_zones, cache=False).assign(lon, lat).tolist()
    # one entry, no temporary folder left behind
    assert [p.name for p in (cache / f"index-v{FORMAT_VERSION}").iterdir()] == [
        _entries(cache)[0].name
    ]


def test_cli_count_and_simulate_no_cache(cache, small_zones, tmp_path):
    zones_dir = str(Path(small_zones.sources[0]).parent)
    runner = CliRunner()
    sim = [
        "simulate", "--zones", zones_dir, "--start", "2020-01-06", "--end", "2020-01-06",
        "--devices", "300", "--out", str(tmp_path / "pings"), "-q",
    ]  # fmt: skip
    result = runner.invoke(cli, [*sim, "--no-cache"])
    assert result.exit_code == 0, result.output
    assert not cache.exists()
    count = ["count", str(tmp_path / "pings"), "--zones", zones_dir, "-q"]
    result = runner.invoke(cli, [*count, "--out", str(tmp_path / "a.parquet"), "--no-cache"])
    assert result.exit_code == 0, result.output
    assert not cache.exists()
    result = runner.invoke(cli, [*count, "--out", str(tmp_path / "b.parquet")])
    assert result.exit_code == 0, result.output
    assert len(_entries(cache)) == 1
    result = runner.invoke(cli, [*count, "--out", str(tmp_path / "c.parquet")])
    assert result.exit_code == 0, result.output
    a, c = (pd.read_parquet(tmp_path / f"{n}.parquet") for n in "ac")
    pd.testing.assert_frame_equal(a, c)
    assert a["passages"].sum() > 0


def test_old_entries_and_left_over_temporaries_are_pruned(cache, small_zones):
    import os
    import time

    ff.ZoneIndex(small_zones)
    (old,) = _entries(cache)
    root = cache / f"index-v{FORMAT_VERSION}"
    month_ago = time.time() - (_cache.MAX_AGE_DAYS + 1) * 86400
    os.utime(old / "meta.json", (month_ago, month_ago))
    killed = root / f".{old.name}.killed.tmp"  # a writer killed an hour ago
    killed.mkdir()
    os.utime(killed, (time.time() - 7200,) * 2)
    writing = root / f".{old.name}.writing.tmp"  # a writer at work now
    writing.mkdir()
    ff.ZoneIndex(small_zones, resolution=10)
    left = sorted(p.name for p in root.iterdir())
    assert old.name not in left and killed.name not in left
    assert writing.name in left and len(_entries(cache)) == 1
    # reading an entry marks it used: it survives the next pruning
    ff.ZoneIndex(small_zones, resolution=10)
    (kept,) = _entries(cache)
    assert time.time() - (kept / "meta.json").stat().st_mtime < 60
