"""The counting kernel: exact against a brute-force count, DST, map/reduce contracts."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

import footfall as ff
from footfall.count import (
    CountSpec,
    assemble,
    map_batch,
    merge_partials,
    range_slices,
    reduce_partials,
    reduce_slices,
)
from footfall.count._checkpoint import _save_partial
from footfall.count._kernels import device_groups
from footfall.count._reduce import _unite
from footfall.ingest import REASONS
from footfall.testing import assert_hourly_equal
from footfall.zones import ZoneSet

ZONES_DIR = Path(__file__).resolve().parents[1] / "zones"
# Real towns: Alès, Bourg-en-Bresse, Laon, Oyonnax, Vannes.
TOWNS = ("30007", "01053", "02408", "01283", "56260")


@cache
def small_zones() -> ZoneSet:
    files = [next(ZONES_DIR.glob(f"{insee}-*.geojson")) for insee in TOWNS]
    return ZoneSet(pd.concat([ff.read_zones(f).gdf for f in files], ignore_index=True))


@cache
def small_index():
    return ff.ZoneIndex(small_zones())


def random_pings(n: int, seed: int, start: str = "2020-10-24", days: int = 3) -> pd.DataFrame:
    """Pings in and around the zones (boundaries included), with a few faulty rows."""
    rng = np.random.default_rng(seed)
    gdf = small_zones().gdf
    k = rng.integers(0, len(gdf), n)
    c = shapely.centroid(gdf.geometry.values)
    lon = shapely.get_x(c)[k] + rng.normal(0, 0.006, n)
    lat = shapely.get_y(c)[k] + rng.normal(0, 0.004, n)
    # Some points exactly on zone vertices: the boundary is inside.
    edge = rng.random(n) < 0.02
    verts = shapely.get_coordinates(gdf.geometry.values)
    pick = verts[rng.integers(0, len(verts), edge.sum())]
    lon[edge], lat[edge] = pick[:, 0], pick[:, 1]
    t0 = int(pd.Timestamp(start, tz="UTC").timestamp())
    df = pd.DataFrame(
        {
            "device_id": rng.integers(0, n // 20 + 2, n),
            "timestamp": t0 + rng.integers(0, days * 86400, n),
            "lat": lat,
            "lon": lon,
        }
    )
    bad = rng.choice(n, 12, replace=False)
    df.loc[bad[:3], "lat"] = np.nan
    df.loc[bad[3:6], "lon"] = 200.0
    df.loc[bad[6:9], ["lat", "lon"]] = 0.0
    df.loc[bad[9:], "timestamp"] = 1000  # 1970
    dup = df.sample(50, random_state=seed)
    return pd.concat([df, dup], ignore_index=True)


def brute_force(df: pd.DataFrame, zones: ZoneSet, tz: str = "Europe/Paris") -> pd.DataFrame:
    """Reference count: shapely covers per zone and pandas nunique per local hour."""
    ts = pd.to_datetime(df["timestamp"], unit="s", utc=True)
    ok = (
        df["lat"].between(-90, 90)
        & df["lon"].between(-180, 180)
        & ~((df["lat"] == 0) & (df["lon"] == 0))
        & (ts >= pd.Timestamp("2005-01-01", tz="UTC"))
        & (ts < pd.Timestamp("2050-01-01", tz="UTC"))
    )
    valid = df[ok].assign(hour=ts[ok].dt.floor("h").dt.tz_convert(tz))
    frames = []
    for zid, geom in zip(zones.gdf["zone_id"], zones.gdf.geometry, strict=True):
        inside = valid[shapely.covers(geom, shapely.points(valid["lon"], valid["lat"]))]
        g = inside.groupby("hour")["device_id"].agg(passages="nunique", pings="size")
        frames.append(g.reset_index().assign(zone_id=zid))
    out = pd.concat(frames, ignore_index=True)[["zone_id", "hour", "passages", "pings"]]
    return out.sort_values(["zone_id", "hour"], ignore_index=True)


def test_exact_against_brute_force_across_autumn_dst():
    df = random_pings(60_000, seed=1)
    hourly = ff.count_passages(df, small_zones(), index=small_index())
    expected = brute_force(df, small_zones())
    assert_hourly_equal(hourly, expected)
    # same order, same labels, row for row
    assert list(hourly["zone_id"]) == list(expected["zone_id"])
    assert (hourly["hour"] == expected["hour"]).all()
    assert str(hourly["hour"].dt.tz) == "Europe/Paris"
    acc = hourly.attrs["manifest"]["accounting"]
    assert acc["rows_read"] == len(df)
    assert acc["rows_in_zone"] == expected["pings"].sum()
    assert acc["quarantined"]["nan_coordinates"] == 3
    assert acc["quarantined"]["out_of_range"] == 3
    assert acc["quarantined"]["null_island"] == 3
    assert acc["quarantined"]["implausible_timestamp"] == 3


@pytest.mark.parametrize(
    ("day", "n_hours", "repeated"), [("2020-03-29", 23, False), ("2020-10-25", 25, True)]
)
def test_dst_days_have_23_and_25_local_hours(day, n_hours, repeated):
    zones = small_zones()
    lon, lat = shapely.get_coordinates(shapely.point_on_surface(zones.gdf.geometry.values[0]))[0]
    local0 = pd.Timestamp(day, tz="Europe/Paris")
    local1 = pd.Timestamp(pd.Timestamp(day) + pd.Timedelta(days=1), tz="Europe/Paris")
    # one ping every 15 minutes of the local day, from device 7 then device 8
    t = np.arange(int(local0.timestamp()), int(local1.timestamp()), 900)
    df = pd.DataFrame(
        {"device_id": np.tile([7, 8], len(t))[: len(t)], "timestamp": t, "lat": lat, "lon": lon}
    )
    hourly = ff.count_passages(df, zones, index=small_index())
    assert len(hourly) == n_hours
    labels = hourly["hour"].dt.hour
    assert labels.duplicated().any() == repeated  # 02:00 twice in autumn, no 02:00 in spring
    assert (labels == 2).sum() == (2 if repeated else 0)
    assert (hourly["passages"] == 2).all() and (hourly["pings"] == 4).all()
    assert hourly["hour"].is_monotonic_increasing
    panel = ff.read_panel(hourly)
    assert list(panel["day"]) == [pd.Timestamp(day)] and list(panel["active_devices"]) == [2]


def test_exact_across_spring_dst_and_another_time_zone():
    df = random_pings(20_000, seed=2, start="2021-03-13", days=2)  # US DST: 14 March 2021
    for tz in ("Europe/Paris", "America/New_York"):
        hourly = ff.count_passages(df, small_zones(), index=small_index(), tz=tz)
        assert_hourly_equal(hourly, brute_force(df, small_zones(), tz))


def test_dataframe_input_writes_outputs_in_a_new_directory(tmp_path):
    df = random_pings(2_000, seed=6)
    out = tmp_path / "new" / "dir" / "hourly.parquet"
    hourly = ff.count_passages(df, small_zones(), index=small_index(), out=out)
    assert_hourly_equal(ff.read_hourly(out), hourly, check_panel=True)
    assert ff.read_hourly(out).attrs["manifest"]["inputs"] == [
        {"path": "<DataFrame>", "rows": 2050}
    ]


def test_half_hour_time_zone_is_refused():
    with pytest.raises(ff.InputError, match="whole hours"):
        ff.count_passages(
            random_pings(100, 3), small_zones(), index=small_index(), tz="Asia/Kolkata"
        )


def test_unknown_engine_is_refused():
    with pytest.raises(ff.InputError, match="engine"):
        ff.count_passages(random_pings(100, 3), small_zones(), index=small_index(), engine="spark")


def device_sets(keys, sizes, devices):
    """``{key: frozenset(devices)}`` of a partial's group runs."""
    ends = np.cumsum(sizes)
    return {
        int(k): frozenset(devices[e - n : e].tolist())
        for k, n, e in zip(keys, sizes, ends, strict=True)
    }


def test_reduce_of_split_partials_equals_whole(tmp_path):
    """The Dask contract: any split into partials reduces to the same tables."""
    df = random_pings(30_000, seed=4)
    table = pa.Table.from_pandas(df, preserve_index=False)
    spec = CountSpec()
    whole = map_batch(table, small_index(), spec)
    rng = np.random.default_rng(0)
    cuts = np.sort(rng.choice(len(df), 7, replace=False))
    parts = [
        map_batch(table.slice(a, b - a), small_index(), spec, row0=a)
        for a, b in zip([0, *cuts], [*cuts, len(df)], strict=True)
    ]
    ids = small_zones().zone_ids
    h1, p1, r1 = reduce_partials([whole], ids, spec.tz)
    h2, p2, r2 = reduce_partials(parts, ids, spec.tz)
    assert h1.equals(h2) and p1.equals(p2)
    assert r1.equals(r2)  # the replicate tables too, devices seen by two parts corrected
    # The merged partial holds the same device sets, group by group.
    merged = merge_partials(parts)
    for kind in ("visit", "panel"):
        fields = ("visit_key", "visit_passages", "visit_devices") if kind == "visit" else (
            "panel_day", "panel_active", "panel_devices")  # fmt: skip
        assert device_sets(*(getattr(merged, f) for f in fields)) == device_sets(
            *(getattr(whole, f) for f in fields)
        )
    assert np.array_equal(merged.visit_pings, whole.visit_pings)
    assert merged.accounting == whole.accounting
    q = merged.quarantine.table().to_pandas()
    assert sorted(q["row"]) == sorted(whole.quarantine.row)
    assert set(q["reason"]) <= set(REASONS)
    # Range by range from checkpoints (the bounded-memory reduce, any engine), where the
    # parts share hours and days: the same tables again.
    done = []
    for i, part in enumerate(parts):
        directory = tmp_path / f"{i:06d}"
        done.append((directory, _save_partial(part, directory, {"path": "p", "key": str(i)})))
    reduced = {kind: [reduce_slices(kind, s) for s in range_slices(done, kind)]
               for kind in ("visit", "panel")}  # fmt: skip
    shared = np.unique(np.concatenate([p.visit_key for p in parts]), return_counts=True)[1]
    assert (shared > 1).mean() > 0.5  # most zone-hours are in several parts: united
    h3, p3, _ = assemble(reduced["visit"], reduced["panel"], ids, spec.tz)
    assert h1.equals(h3) and p1.equals(p3)


def test_files_sharing_every_hour_reduce_through_their_devices(tmp_path):
    """Row slices of one input, each over all its hours: the on-disk reduce unites devices."""
    df = random_pings(40_000, seed=8)
    for i, rows in enumerate(np.array_split(np.arange(len(df)), 3)):
        pq.write_table(pa.Table.from_pandas(df.iloc[rows], preserve_index=False),
                       tmp_path / f"part-{i}.parquet")  # fmt: skip
    hourly = ff.count_passages(tmp_path, small_zones(), index=small_index(),
                               out=tmp_path / "out" / "hourly.parquet")  # fmt: skip
    assert_hourly_equal(hourly, brute_force(df, small_zones()))
    whole = ff.count_passages(df, small_zones(), index=small_index())
    pd.testing.assert_frame_equal(ff.read_panel(hourly), ff.read_panel(whole))


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(st.integers(0, 6), st.integers(0, 9), st.integers(0, 3)), max_size=60),
        max_size=5,
    ),
    st.booleans(),
)
def test_union_of_group_runs_matches_pandas(parts, keep):
    """Groups of several partials unite: distinct devices per key, extras summed."""
    runs, rows = [], []
    for p, part in enumerate(parts):
        df = pd.DataFrame(part, columns=["k", "d", "x"]).drop_duplicates(["k", "d"])
        df["d"] = df["d"].astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        g = df.groupby("k", sort=False)
        keys = np.array(list(g.groups), np.int64)
        devices = np.concatenate([g.get_group(k)["d"].to_numpy() for k in keys]) if len(
            keys) else np.empty(0, np.uint64)  # fmt: skip
        sizes = np.array([len(g.get_group(k)) for k in keys], np.int64)
        extra = np.full(len(keys), p + 1, np.int64)  # a count per group, e.g. its pings
        runs.append((keys, sizes, extra, devices))
        rows += [(k, d, p + 1) for k, d in zip(df["k"], df["d"], strict=True)]
    key, size, extra, devices, dup_key, dup_group = _unite(runs, keep)
    ref = pd.DataFrame(rows, columns=["k", "d", "p"])
    # devices seen by several parts of a key: one entry per extra sighting, with its group
    seen = ref.groupby(["k", "d"]).size() - 1
    seen = seen[seen > 0]
    expected_dups = sorted(
        (int(k), int(g)) for (k, d), n in seen.items()
        for g in device_groups(np.array([d], np.uint64)) for _ in range(n)
    )  # fmt: skip
    assert sorted(zip(dup_key.tolist(), dup_group.tolist(), strict=True)) == expected_dups
    per_part = {(k, p) for k, _, p in rows}
    expected_extra = pd.Series([p for _, p in per_part], [k for k, _ in per_part])
    expected_extra = expected_extra.groupby(level=0).sum().sort_index()
    nunique = ref.groupby("k")["d"].nunique().sort_index()
    np.testing.assert_array_equal(key, nunique.index)
    np.testing.assert_array_equal(size, nunique.to_numpy())
    np.testing.assert_array_equal(extra, expected_extra.reindex(nunique.index).to_numpy())
    if keep:
        got = device_sets(key, size, devices)
        assert got == {int(k): frozenset(v) for k, v in ref.groupby("k")["d"].agg(set).items()}


@pytest.mark.parametrize("n", [0, 7, 32_768, 200_000])
def test_map_tables_grow_and_count_like_pandas(n):
    """Many distinct devices and zone-hours: the map's tables grow, the counts stay exact."""
    zones = small_zones()
    points = shapely.point_on_surface(zones.gdf.geometry.values)
    rng = np.random.default_rng(n)
    z = rng.integers(-1, len(points), n)  # -1: a point outside every zone
    lon = np.where(z >= 0, shapely.get_x(points)[np.maximum(z, 0)], 10.0)
    lat = np.where(z >= 0, shapely.get_y(points)[np.maximum(z, 0)], 60.0)
    t0 = int(pd.Timestamp("2020-01-01", tz="UTC").timestamp())
    df = pd.DataFrame({
        "device_id": rng.integers(0, max(1, n // 3), n),
        "timestamp": t0 + rng.integers(0, 400 * 86400, n),  # ~9,600 hours, 400 days
        "lat": lat, "lon": lon,
    })  # fmt: skip
    spec = CountSpec()
    hourly, panel, _ = reduce_partials(
        [map_batch(pa.Table.from_pandas(df), small_index(), spec)], zones.zone_ids, spec.tz
    )
    hourly, panel = hourly.to_pandas(), panel.to_pandas(date_as_object=False)
    assert_hourly_equal(hourly, brute_force(df, zones))
    local_day = pd.to_datetime(df["timestamp"], unit="s", utc=True).dt.tz_convert(spec.tz)
    ref = df.groupby(local_day.dt.tz_localize(None).dt.normalize())["device_id"].nunique()
    np.testing.assert_array_equal(panel["active_devices"], ref.to_numpy())
    assert list(panel["day"]) == list(ref.index)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1_104_537_600, 2_524_607_999),  # the plausible window: 2005-2049
    st.sampled_from(["Europe/Paris", "UTC", "Australia/Sydney"]),
)
def test_local_hour_label_is_the_utc_hour_in_local_time(t, tz):
    """Property: a ping's bucket is the UTC hour that holds it, labelled in local time."""
    zones = small_zones()
    lon, lat = shapely.get_coordinates(shapely.point_on_surface(zones.gdf.geometry.values[1]))[0]
    df = pd.DataFrame({"device_id": [1], "timestamp": [t], "lat": [lat], "lon": [lon]})
    hourly = ff.count_passages(df, zones, index=small_index(), tz=tz)
    expected = pd.Timestamp(t, unit="s", tz="UTC").floor("h").tz_convert(tz)
    assert hourly["hour"].iloc[0] == expected
    assert hourly["hour"].iloc[0].utcoffset() == expected.utcoffset()
    day = pd.Timestamp(t, unit="s", tz="UTC").tz_convert(tz).tz_localize(None).normalize()
    assert ff.read_panel(hourly)["day"].iloc[0] == day


def test_assert_hourly_equal_reports_differences():
    df = random_pings(5_000, seed=5)
    hourly = ff.count_passages(df, small_zones(), index=small_index())
    assert_hourly_equal(hourly, hourly.iloc[::-1], check_panel=True)
    changed = hourly.copy()
    changed.loc[3, "passages"] += 1
    with pytest.raises(AssertionError, match="differ in 1 of"):
        assert_hourly_equal(hourly, changed)
    with pytest.raises(AssertionError, match="differ in 1 of"):
        assert_hourly_equal(hourly, hourly.drop(index=7))
    assert_hourly_equal(hourly, hourly.assign(pings=0), check_pings=False)


def test_hourly_tables_concat_and_merge_like_plain_frames(tmp_path):
    df = random_pings(20_000, seed=5)
    hourly = ff.count_passages(df, small_zones(), index=small_index(), out=tmp_path / "h.parquet")
    panel = ff.read_panel(hourly)
    assert list(panel.columns) == ["day", "active_devices"] and len(panel) > 0
    # slices deep-copy attrs; pandas compares them on concat: a DataFrame there would raise
    first, rest = hourly.iloc[:10], hourly.iloc[10:]
    again = pd.concat([first, rest], ignore_index=True)
    pd.testing.assert_frame_equal(ff.read_panel(again), panel)
    assert len(hourly.merge(hourly, on=["zone_id", "hour"])) == len(hourly)
    # the panel attached in memory equals the one written beside the table
    pd.testing.assert_frame_equal(ff.read_panel(tmp_path / "h.parquet"), panel)
    pd.testing.assert_frame_equal(ff.read_panel(ff.read_hourly(tmp_path / "h.parquet")), panel)
