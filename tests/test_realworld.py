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
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from footfall.cli import cli
from footfall.manifest import beside
from test_hourly import TOWNS, ZONES_DIR, random_pings

N = 2_000


@pytest.fixture(scope="module")
def zones_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("zones")
    for insee in TOWNS:
        shutil.copy(next(ZONES_DIR.glob(f"{insee}-*.geojson")), out)
    return out


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


def write(path: Path, content: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, pd.DataFrame):
        if path.suffix == ".csv":
            content.to_csv(path, index=False)
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
    Case("missing-column", {"p.parquet": renamed(device_id="uid")}, [], 1, "no device column"),
    Case("zones-missing", P, ["--zones", "nozones"], exit=1, message="nozones"),
    Case("read-only-out-dir", P, out="ro/h.parquet", exit=1, message="ermission denied",
         root_only_ok=False, dirs={"ro": 0o500}),
    Case("out-under-a-file", {"p.parquet": same, "f": text("x")}, pings=["p.parquet"],
         out="f/h.parquet", exit=1, message="f"),
    Case("clean-nothing", P, ["--clean", "out/h.parquet"], pings=[], message="nothing to"),
]
# fmt: on


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_awkward_input(case: Case, good, zones_dir, tmp_path, monkeypatch):
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
