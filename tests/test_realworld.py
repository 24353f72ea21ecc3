"""``footfall count`` on awkward real-world input, as a new user would try it (issue 12).

Every case runs the CLI in process and checks: the exit status, one clear line (never a
traceback), and for a successful run the manifest's accounting
``rows_read == rows_in_zone + rows_outside + rows_quarantined``. A case is one line of
:data:`CASES`: a name, the ping files to write (name -> builder of the bytes or frame),
extra arguments, the expected exit status and a piece of the expected message.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from footfall.cli import cli
from footfall.manifest import beside
from test_hourly import random_pings, small_zones

N = 2_000


@pytest.fixture(scope="module")
def good() -> pd.DataFrame:
    return random_pings(N, seed=12)


# --- builders: the good pings -> what a file holds (a DataFrame, bytes or text) -------------


def same(df: pd.DataFrame) -> pd.DataFrame:
    return df


def swapped(df: pd.DataFrame) -> pd.DataFrame:
    return df.rename(columns={"lat": "lon", "lon": "lat"})


def uuids(df: pd.DataFrame) -> pd.DataFrame:
    ids = {i: str(uuid.UUID(int=int(i) * 7919 + 1)) for i in df["device_id"].unique()}
    return df.assign(device_id=df["device_id"].map(ids))


def scaled(factor: int) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda df: df.assign(timestamp=df["timestamp"] * factor)


def nan_coords(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(lat=np.nan, lon=np.nan)


def mostly_null_ids(df: pd.DataFrame) -> pd.DataFrame:
    ids = df["device_id"].astype("float64")
    ids[: int(len(df) * 0.7)] = np.nan
    return df.assign(device_id=ids.astype("Int64"))


def doubled(df: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([df, df], ignore_index=True)


def renamed(**names: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda df: df.rename(columns=names)


def header_only(df: pd.DataFrame) -> str:
    return ",".join(df.columns) + "\n"


def text(content: str | bytes) -> Callable[[pd.DataFrame], str | bytes]:
    return lambda df: content


def head(n: int) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda df: df.head(n)


def tail(n: int) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda df: df.iloc[n:]


def ms_with(bad: str, rows: int = 5_000) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """`rows` pings of epoch milliseconds as text, the middle one replaced by `bad`."""

    def build(df: pd.DataFrame) -> pd.DataFrame:
        df = pd.concat([df] * (rows // len(df) + 1), ignore_index=True).head(rows + 1)
        ts = (df["timestamp"] * 1000).astype(str)
        ts.iloc[rows // 2] = bad
        return df.assign(timestamp=ts)

    return build


def decimal_seconds(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(timestamp=df["timestamp"] + 0.801)


def iso(tz: str | None) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """ISO-8601 text: ``...Z`` (tz None) or with the UTC offset of `tz` (DST change inside)."""

    def build(df: pd.DataFrame) -> pd.DataFrame:
        t = pd.to_datetime(df["timestamp"], unit="s", utc=True)
        if tz is None:
            return df.assign(timestamp=t.dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
        return df.assign(timestamp=[x.isoformat() for x in t.dt.tz_convert(tz)])

    return build


def blank_ids(df: pd.DataFrame) -> pd.DataFrame:
    """Text ids, 10 of them empty and 10 whitespace only."""
    ids = df["device_id"].astype(str)
    ids.iloc[:10] = ""
    ids.iloc[10:20] = [" ", "  ", "\t", " \t "] * 2 + [" ", " "]
    return df.assign(device_id=ids)


def huge_uint_ids(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(device_id=df["device_id"].astype("uint64") + np.uint64(2**63))


def min_int64_time(df: pd.DataFrame) -> pd.DataFrame:
    ts = df["timestamp"].copy()
    ts.iloc[7] = -(2**63) + 1
    return df.assign(timestamp=ts)


def bom_csv(df: pd.DataFrame) -> bytes:
    return b"\xef\xbb\xbf" + df.to_csv(index=False).encode()


def vendor(df: pd.DataFrame) -> pd.DataFrame:
    """A delivery's own names, with a horizontal accuracy column."""
    df = df.rename(columns={"device_id": "maid", "timestamp": "utc_timestamp",
                            "lat": "latitude", "lon": "longitude"})  # fmt: skip
    return df.assign(horizontal_accuracy=np.arange(len(df)) % 100 + 0.5)


def also_latitude(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(latitude=df["lat"])


def accuracy(df: pd.DataFrame) -> pd.DataFrame:
    """``accuracy_m`` 0.5..99.5: 1,000 of the 2,050 rows (i % 100 >= 50) are above 50 m.

    Six of those are quarantined first for another reason: 994 ``low_accuracy``.
    """
    return df.assign(accuracy_m=np.arange(len(df)) % 100 + 0.5)


def lambert93_gpkg(df: pd.DataFrame) -> gpd.GeoDataFrame:
    return small_zones().gdf[["zone_id", "geometry"]].to_crs("EPSG:2154")


def antimeridian_zone(df: pd.DataFrame) -> str:
    ring = [[179.9, -17.0], [-179.9, -17.0], [-179.9, -16.9], [179.9, -16.9], [179.9, -17.0]]
    feature = {"type": "Feature", "properties": {"zone_id": "fiji"},
               "geometry": {"type": "Polygon", "coordinates": [ring]}}  # fmt: skip
    return json.dumps({"type": "FeatureCollection", "features": [feature]})


def write(path: Path, content: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, gpd.GeoDataFrame):
        content.to_file(path)
    elif isinstance(content, pd.DataFrame):
        if path.suffix == ".csv":
            content.to_csv(path, index=False)
        elif path.suffix == ".tsv":
            content.to_csv(path, index=False, sep="\t")
        else:
            content.to_parquet(path, index=False)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)


@dataclass
class Case:
    """One awkward CLI run: files to write, extra arguments, expected status and message."""

    name: str
    files: dict[str, Callable[[pd.DataFrame], Any]]
    args: list[str] = field(default_factory=list)
    exit: int = 0
    message: str = ""
    pings: list[str] | None = None  # what to pass as PINGS (default: every file written)
    out: str = "out/hourly.parquet"
    root_only_ok: bool = True  # False: the case needs a non-root user (permissions)
    dirs: dict[str, int] = field(default_factory=dict)  # folders to create first: name -> mode
    reasons: dict[str, int] = field(default_factory=dict)  # quarantine counts expected, by reason
    same: bool = False  # True: the same tables as the good pings in Parquet (case "parquet")
    near: bool = False  # True: in-zone rows within 1 % of those (zones reprojected: boundaries)


P = {"p.parquet": same}  # the good pings, as Parquet
# fmt: off
CASES = [  # one line per case
    Case("parquet", P),
    Case("csv", {"p.csv": same}),
    Case("csv-beside-parquet", {"d/a.parquet": head(1000), "d/b.csv": same}, pings=["d"]),
    Case("uuid-text-ids", {"p.parquet": uuids}),
    Case("uuid-text-ids-csv", {"p.csv": uuids}),
    Case("duplicate-rows", {"p.parquet": doubled}),
    Case("missing-file", P, pings=["nothere.parquet"], exit=1, message="nothere.parquet"),
    Case("empty-dir", {"d/.keep": text("")}, pings=["d"], exit=1, message="d"),
    Case("empty-csv-file", {"p.csv": text("")}, exit=1, message="p.csv"),
    Case("header-only-csv", {"p.csv": header_only}, exit=1, message="hold no row"),
    Case("garbage-parquet", {"p.parquet": text(b"PAR1 not")}, exit=1, message="unreadable"),
    Case("garbage-skipped", {"a.parquet": same, "b.parquet": text(b"x")}, ["--skip-bad-files"]),
    Case("parquet-named-txt", {"p.txt": same}),  # a file named on the command line: by content
    Case("json-file", {"p.json": text('{"device_id": 1}')}, exit=1, message="p.json"),
    Case("directory-as-out", P, out="o", exit=2, message="is a directory", dirs={"o": 0o755}),
    Case("unknown-tz", P, ["--tz", "Mars/Olympus"], exit=1, message="unknown"),
    Case("bad-engine", P, ["--engine", "spark"], exit=2, message="'spark' is not one of"),
    Case("since-yesterday", P, ["--since", "yesterday"], exit=1, message="not a date"),
    Case("until-2263", P, ["--until", "2263-01-01"], exit=1, message="nanosecond"),
    Case("since-1960", P, ["--since", "1960-01-01"], exit=1, message="1970-01-01"),
    Case("window-reversed", P, ["--since", "2030", "--until", "2020"], 1, "end is not after"),
    Case("workers-zero", P, ["--workers", "0"], exit=2, message="--workers"),
    Case("all-nan-coords", {"p.parquet": nan_coords}, exit=1, message="nan_coordinates"),
    Case("microsecond-epochs", {"p.parquet": scaled(10**6)}, exit=1, message="microseconds"),
    Case("nanosecond-epochs", {"p.parquet": scaled(10**9)}, exit=1, message="nanoseconds"),
    Case("millisecond-epochs", {"p.parquet": scaled(1000)}),
    Case("mostly-null-ids", {"p.parquet": mostly_null_ids}, message="mostly null_device"),
    Case("swapped-lat-lon", {"p.parquet": swapped}, message="--lat-col lon --lon-col lat"),
    Case("vendor-columns", {"p.parquet": renamed(device_id="maid", timestamp="ts")},
         ["--device-col", "maid", "--time-col", "ts"]),
    Case("missing-column", {"p.parquet": renamed(device_id="user")}, [], 1, "no device column"),
    Case("zones-missing", P, ["--zones", "nozones"], exit=1, message="nozones"),
    Case("read-only-out-dir", P, out="ro/h.parquet", exit=1, message="ermission denied",
         root_only_ok=False, dirs={"ro": 0o500}),
    Case("out-under-a-file", {"p.parquet": same, "f": text("x")}, pings=["p.parquet"],
         out="f/h.parquet", exit=1, message="f"),
    Case("clean-nothing", P, ["--clean", "out/h.parquet"], pings=[], message="nothing to"),
    # --- ingest (issues 12 and 14) ---
    Case("csv-int-ids-as-text", {"p.csv": same}, same=True),
    Case("split-parquet-csv", {"d/a.parquet": head(1000), "d/b.csv": tail(1000)}, pings=["d"],
         same=True),
    Case("csv-ms-one-notatime", {"p.csv": ms_with("notatime")}, reasons={"bad_timestamp": 1}),
    Case("parquet-ms-text-one-bad", {"p.parquet": ms_with("1580852788x")},
         reasons={"bad_timestamp": 1}),
    Case("csv-decimal-seconds", {"p.csv": decimal_seconds}, same=True),
    Case("parquet-decimal-seconds", {"p.parquet": decimal_seconds}, same=True),
    Case("csv-iso-z", {"p.csv": iso(None)}, same=True),
    Case("csv-iso-offsets", {"p.csv": iso("Europe/Paris")}, same=True),
    Case("parquet-iso-offsets", {"p.parquet": iso("America/New_York")}, same=True),
    Case("parquet-blank-ids", {"p.parquet": blank_ids}, reasons={"null_device": 20}),
    Case("csv-blank-ids", {"p.csv": blank_ids}, reasons={"null_device": 20}),
    Case("uint64-ids-over-2-63", {"p.parquet": huge_uint_ids}, same=True),
    Case("timestamp-min-int64", {"p.parquet": min_int64_time}, reasons={"bad_timestamp": 0}),
    Case("microsecond-epochs-csv", {"p.csv": scaled(10**6)}, exit=1, message="microseconds"),
    Case("tsv-by-extension", {"p.tsv": same}, same=True),
    Case("utf8-bom-header", {"p.csv": bom_csv}, same=True),
    Case("vendor-names-no-flags", {"p.parquet": vendor}, same=True,
         message="columns: device=maid time=utc_timestamp lat=latitude lon=longitude "
         "accuracy=horizontal_accuracy"),
    Case("vendor-names-no-flags-csv", {"p.csv": vendor}, same=True),
    Case("ambiguous-lat-latitude", {"p.parquet": also_latitude}, exit=1,
         message="several lat columns: 'lat', 'latitude'; choose one with --lat-col"),
    Case("max-accuracy-50", {"p.parquet": accuracy}, ["--max-accuracy", "50"],
         message="low_accuracy", reasons={"low_accuracy": 994}),
    Case("swapped-lat-lon-csv", {"p.csv": swapped}, message="--lat-col lon --lon-col lat"),
    Case("zones-gpkg-lambert93", {"p.parquet": same, "z/zones.gpkg": lambert93_gpkg},
         ["--zones", "z/zones.gpkg"], pings=["p.parquet"], near=True),
    Case("zones-antimeridian", {"p.parquet": same, "z/fiji.geojson": antimeridian_zone},
         ["--zones", "z/fiji.geojson"], pings=["p.parquet"], exit=1, message="antimeridian"),
]
# fmt: on


def test_the_battery_is_big_enough():
    assert len(CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.fixture(scope="module")
def baseline(good, zones_dir, tmp_path_factory) -> dict[str, pd.DataFrame]:
    """The tables of the good pings as Parquet (the reference of the ``same`` cases)."""
    tmp = tmp_path_factory.mktemp("baseline")
    write(tmp / "p.parquet", good)
    out = tmp / "hourly.parquet"
    args = ["count", str(tmp / "p.parquet"), "--zones", str(zones_dir), "--out", str(out)]
    result = CliRunner().invoke(cli, [*args, "--no-intervals", "-q"])
    assert result.exit_code == 0, result.output
    manifest = json.loads(beside(out, "manifest", "json").read_text())
    return {"accounting": manifest["accounting"]} | {
        kind: _table(out, kind) for kind in ("hourly", "panel")
    }


def _table(out: Path, kind: str) -> pd.DataFrame:
    path = out if kind == "hourly" else beside(out, kind)
    df = pd.read_parquet(path)
    return df.sort_values(list(df.columns)).reset_index(drop=True)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_awkward_input(case: Case, good, zones_dir, baseline, tmp_path, monkeypatch):
    if not case.root_only_ok and os.geteuid() == 0:
        pytest.skip("root ignores file permissions")
    monkeypatch.chdir(tmp_path)
    for name, build in case.files.items():
        write(tmp_path / name, build(good))
    for name, mode in case.dirs.items():
        (tmp_path / name).mkdir(mode=mode)
    pings = [n for n in case.files if not n.startswith("d/")] if case.pings is None else case.pings
    args = ["count", *pings, "--zones", str(zones_dir), "--out", case.out, *case.args]
    if case.pings == [] and "--clean" in case.args:
        args = ["count", *case.args]
    result = CliRunner().invoke(cli, args)
    output = result.output
    assert "Traceback" not in output, output
    assert result.exit_code == case.exit, output
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), repr(result.exception)
    assert case.message in output, output
    if case.exit:
        errors = [line for line in output.splitlines() if line.startswith("Error")]
        assert len(errors) == 1, output
        return
    if "--clean" in case.args:
        return
    manifest = json.loads(beside(tmp_path / case.out, "manifest", "json").read_text())
    acc = manifest["accounting"]
    assert acc["rows_read"] == acc["rows_in_zone"] + acc["rows_outside"] + acc["rows_quarantined"]
    assert acc["rows_read"] > 0
    assert f"{acc['rows_read']:,} rows" in output
    warnings = [line for line in output.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: {w}" for w in manifest["warnings"]]
    for reason, n in case.reasons.items():
        assert acc["quarantined"].get(reason, 0) == n, acc
    if case.same:
        for kind in ("hourly", "panel"):
            pd.testing.assert_frame_equal(_table(tmp_path / case.out, kind), baseline[kind])
    if case.near:
        expected = baseline["accounting"]["rows_in_zone"]
        assert abs(acc["rows_in_zone"] - expected) <= 0.01 * expected, (acc, expected)


def test_manifest_records_the_column_mapping_chosen(good, zones_dir, tmp_path):
    """Issue 14: the names read, once when the files agree, else per file; also the API."""
    write(tmp_path / "same/a.parquet", vendor(good.head(1000)))
    write(tmp_path / "same/b.csv", vendor(good.iloc[1000:]))
    write(tmp_path / "mixed/a.parquet", good.head(1000))
    write(tmp_path / "mixed/b.csv", vendor(good.iloc[1000:]))
    chosen = {"device": "maid", "time": "utc_timestamp", "lat": "latitude",
              "lon": "longitude", "accuracy": "horizontal_accuracy"}  # fmt: skip
    default = {"device": "device_id", "time": "timestamp", "lat": "lat", "lon": "lon",
               "accuracy": None}  # fmt: skip
    found = {}
    for name in ("same", "mixed"):
        out = tmp_path / name / "out" / "h.parquet"
        args = ["count", str(tmp_path / name), "--zones", str(zones_dir), "--out", str(out)]
        result = CliRunner().invoke(cli, [*args, "--no-intervals"])
        assert result.exit_code == 0, result.output
        manifest = json.loads(beside(out, "manifest", "json").read_text())
        assert manifest["parameters"]["columns"]["device"] is None  # as asked: found per file
        found[name] = manifest["parameters"]["column_mapping"]
    assert found["same"] == chosen
    assert found["mixed"] == {
        "files": {
            str(tmp_path / "mixed/a.parquet"): default,
            str(tmp_path / "mixed/b.csv"): chosen,
        }  # fmt: skip
    }
    import footfall as ff

    hourly = ff.count_passages(vendor(good), ff.read_zones(zones_dir), intervals=False)
    assert hourly.attrs["manifest"]["parameters"]["column_mapping"] == chosen
