"""Ping input: every schema variant gives the same count; every faulty row is quarantined."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import footfall as ff
from footfall.ingest import REASONS, Columns, find_files, read_pings
from footfall.testing import assert_hourly_equal
from test_hourly import random_pings, small_index, small_zones


@pytest.fixture(scope="module")
def pings() -> pd.DataFrame:
    return random_pings(8_000, seed=11)


@pytest.fixture(scope="module")
def reference(pings):
    return ff.count_passages(pings, small_zones(), index=small_index())


def count(source, **kw):
    return ff.count_passages(source, small_zones(), index=small_index(), **kw)


def same(hourly, reference):
    assert_hourly_equal(hourly, reference, check_panel=True)
    assert hourly.attrs["manifest"]["accounting"] == reference.attrs["manifest"]["accounting"]


def _iso(t: pd.Series, fmt: str) -> pd.Series:
    return pd.to_datetime(t, unit="s", utc=True).dt.tz_convert("Europe/Paris").dt.strftime(fmt)


VARIANTS = {
    "int_epoch_s": lambda df: df,
    "string_ids": lambda df: df.assign(device_id="dev-" + df["device_id"].astype(str)),
    "epoch_ms": lambda df: df.assign(timestamp=df["timestamp"] * 1000),
    "timestamp_type": lambda df: df.assign(
        timestamp=pd.to_datetime(df["timestamp"], unit="s", utc=True)
    ),
    "naive_timestamp_ns": lambda df: df.assign(
        timestamp=pd.to_datetime(df["timestamp"], unit="s").astype("datetime64[ns]")
    ),
    "iso_z": lambda df: df.assign(
        timestamp=pd.to_datetime(df["timestamp"], unit="s", utc=True).dt.strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
    ),
    "iso_offset": lambda df: df.assign(timestamp=_iso(df["timestamp"], "%Y-%m-%dT%H:%M:%S%z")),
    "float_coords_f32_acc": lambda df: df.assign(accuracy_m=np.float32(12.5)),
}


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_schema_variants_count_the_same(tmp_path, pings, reference, variant, fmt):
    df = VARIANTS[variant](pings)
    path = tmp_path / f"pings.{fmt}"
    if fmt == "csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)
    same(count(path), reference)


def test_hive_partitions_globs_lists_and_column_mapping(tmp_path, pings, reference):
    df = pings.assign(day=pd.to_datetime(pings["timestamp"], unit="s").dt.strftime("%Y-%m-%d"))
    df = df.rename(columns={"device_id": "uid", "timestamp": "ts", "lat": "y", "lon": "x"})
    ds.write_dataset(
        pa.Table.from_pandas(df, preserve_index=False),
        tmp_path / "hive",
        format="parquet",
        partitioning=["day"],
        partitioning_flavor="hive",
        max_rows_per_group=1000,
    )
    (tmp_path / "hive" / "_SUCCESS").write_text("")  # metadata files are skipped
    cols = Columns(device="uid", time="ts", lat="y", lon="x")
    same(count(tmp_path / "hive", columns=cols), reference)
    same(count(tmp_path / "hive", columns=cols, batch_rows=97, workers=1), reference)
    same(count(str(tmp_path / "hive" / "**" / "*.parquet"), columns=cols), reference)
    files = find_files(tmp_path / "hive")
    assert len(files) >= 3 and all(f.suffix == ".parquet" for f in files)
    same(count(files, columns={"device": "uid", "time": "ts", "lat": "y", "lon": "x"}), reference)
    # small fragments: several row groups per file split into many map tasks
    from footfall.ingest import list_fragments

    frags = list_fragments(files[-1], cols, target_rows=1000)
    assert len(frags) > 1
    assert [f.row0 for f in frags] == list(np.cumsum([0] + [f.rows for f in frags[:-1]]))
    assert sum(f.rows for f in frags) == pq.ParquetFile(files[-1]).metadata.num_rows


def test_every_faulty_row_kind_is_quarantined_with_its_reason(tmp_path):
    lon, lat = 4.0812, 44.1250  # Alès centre
    rows = [
        ("a", "2020-06-01T10:00:00Z", lat, lon, "ok"),
        (None, "2020-06-01T10:00:00Z", lat, lon, "null_device"),
        ("a", None, lat, lon, "null_timestamp"),
        ("a", "yesterday", lat, lon, "bad_timestamp"),
        ("a", "2020-13-45T99:00:00", lat, lon, "bad_timestamp"),
        ("a", "1990-06-01T10:00:00Z", lat, lon, "implausible_timestamp"),
        ("a", "2020-06-01T10:00:00Z", "NaN", lon, "nan_coordinates"),
        ("a", "2020-06-01T10:00:00Z", lat, "inf", "nan_coordinates"),
        ("a", "2020-06-01T10:00:00Z", "4x.1", lon, "nan_coordinates"),
        ("a", "2020-06-01T10:00:00Z", 95.0, lon, "out_of_range"),
        ("a", "2020-06-01T10:00:00Z", lat, -180.5, "out_of_range"),
        ("a", "2020-06-01T10:00:00Z", 0.0, 0.0, "null_island"),
        ("a", "2020-06-01T10:00:00Z", lat, lon, "ok"),  # exact duplicate: a ping, no passage
    ]
    df = pd.DataFrame(rows, columns=["device_id", "timestamp", "lat", "lon", "expect"])
    path = tmp_path / "faulty.csv"
    df.drop(columns="expect").to_csv(path, index=False)
    read = read_pings(path)
    expected = df["expect"].replace("ok", "")
    assert list(read["reason"]) == list(expected)
    assert read["device"].dtype == np.uint64  # keys, not identifiers
    hourly = count(path, out=tmp_path / "h.parquet")
    pd.testing.assert_frame_equal(hourly, ff.read_hourly(tmp_path / "h.parquet"))
    assert list(hourly[["passages", "pings"]].iloc[0]) == [1, 2]
    acc = hourly.attrs["manifest"]["accounting"]
    assert acc["rows_read"] == len(df) and acc["rows_in_zone"] == 2
    assert acc["quarantined"] == {r: int((expected == r).sum()) for r in REASONS}
    q = pq.read_table(tmp_path / "h.quarantine.parquet").to_pandas()
    assert list(q["reason"]) == [r for r in expected if r]
    assert list(q["row"]) == [i for i, r in enumerate(expected) if r]
    assert set(q["source"]) == {str(path)}
    assert "device_id" not in q.columns


def test_window_and_errors_name_the_file_and_column(tmp_path, pings):
    path = tmp_path / "p.parquet"
    pings.to_parquet(path, index=False)
    late = count(path, window=("2020-10-25", "2050-01-01"))
    q = late.attrs["manifest"]["accounting"]["quarantined"]
    assert q["implausible_timestamp"] > 1000
    with pytest.raises(ff.InputError, match=r"p\.parquet: no column 'uid'.*--device-col"):
        count(path, columns=Columns(device="uid"))
    pings.assign(device_id=0.5).to_parquet(tmp_path / "f.parquet", index=False)
    with pytest.raises(ff.InputError, match=r"f\.parquet: device column has type double"):
        count(tmp_path / "f.parquet")
    with pytest.raises(ff.InputError, match="no such file"):
        count(tmp_path / "nothing")
    with pytest.raises(ff.InputError, match="no file matches"):
        count(str(tmp_path / "*.csv"))
    with pytest.raises(ff.InputError, match="end is not after the start"):
        count(path, window=("2021-01-01", "2020-01-01"))


def test_text_device_ids_never_reach_an_output(tmp_path, pings):
    df = pings.assign(device_id="user-" + pings["device_id"].astype(str) + "@example.org")
    df.loc[df.index[:5], "lat"] = np.nan  # quarantined rows too
    df.to_csv(tmp_path / "p.csv", index=False)
    out = tmp_path / "out" / "hourly.parquet"
    out.parent.mkdir()
    count(tmp_path / "p.csv", out=out)
    files = list(out.parent.iterdir())
    # hourly, panel, quarantine, replicates (issue 16) and the manifest
    assert sorted(f.name for f in files) == sorted(
        f"hourly.{k}" for k in ("parquet", "panel.parquet", "quarantine.parquet",
                                "replicates.parquet", "manifest.json")
    )  # fmt: skip
    for path in files:
        data = path.read_bytes()
        assert b"user-" not in data and b"example.org" not in data, path
