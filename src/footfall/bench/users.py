"""Section ``e2e``, as users feel it: the whole CLI against its read floor and DuckDB.

One data set of pings around a few zones (written once, in three id flavours: int64,
UUID text stored plain, UUID text dictionary-encoded) is counted by

- ``footfall count`` run as a command in a fresh process (start-up, zone reading and
  index build included: what a user waits for);
- :func:`footfall.count_passages` in this process (index prebuilt, kernels warm);
- pyarrow reading the same four columns (the floor: decoding only);
- DuckDB spatial end to end (``read_parquet`` -> ``ST_Contains`` join -> local hour ->
  ``count(DISTINCT device)``), on the integer ids: the query in this process, and the
  whole job as a fresh process (import, ``LOAD spatial``, ``ST_Read`` of the zone file,
  the query written to Parquet: what a DuckDB user times, as our CLI row).

The methods run in interleaved rounds (the machine is shared; load changes hit all of
them alike), the best round counts, and each row carries its ratio to a reference:
CLI / read floor, DuckDB / CLI (DuckDB's fresh process / our CLI), UUID / integer ids. The
load average is recorded before and after. Both DuckDB results are checked against ours
(zone-hour by zone-hour).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from footfall.bench._common import _peak_rss_mb

__all__ = ["make_user_pings", "users_rows", "ID_FLAVOURS"]

#: Id flavour -> how the device column is stored.
ID_FLAVOURS = ("int", "uuid", "uuid-dict")
COLUMNS = ["device_id", "timestamp", "lat", "lon"]
#: Zones of the data set (a town-centre study's size), devices, days.
N_ZONES, N_DEVICES, DAYS, FILES = 30, 40_000, 7, 4
START = pd.Timestamp("2020-06-01", tz="UTC")
#: Below this many pings (a smoke run, as in the tests) the CLI runs on the integer ids
#: only: start-up is then the whole command, and each run costs seconds.
SMOKE = 100_000


def _uuids(rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` random version-4 UUID strings (canonical 36-character text)."""
    raw = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexed = np.frombuffer(raw.tobytes().hex().encode(), dtype="S32")
    return np.array(
        [f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" for h in hexed.astype(str)],
        dtype=object,
    )


def make_user_pings(zones: Any, folder: str | os.PathLike, n: int, seed: int = 20200317) -> dict:
    """Write `n` pings around the first :data:`N_ZONES` zones, in the three id flavours.

    60 % of the pings fall within 1 km of a zone centre, the rest over the zones'
    region; device ids among :data:`N_DEVICES` (a device keeps its id in every
    flavour); timestamps over :data:`DAYS` days, sorted, one file per
    ``DAYS / FILES``. Returns ``{"zones": zone file, flavour: pings folder}``.
    """
    import shapely

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sub = zones.gdf.iloc[:N_ZONES]
    zone_file = folder / "zones.geojson"
    sub.drop(columns="source", errors="ignore").to_file(zone_file, driver="GeoJSON")
    rng = np.random.default_rng(seed)
    centres = shapely.centroid(sub.geometry.to_numpy())
    cx, cy = shapely.get_x(centres), shapely.get_y(centres)
    near = rng.random(n) < 0.6
    k = rng.integers(0, len(cx), n)
    r = np.where(near, 1.0, 30.0) * np.sqrt(rng.random(n)) / 111.32
    a = rng.uniform(0, 2 * np.pi, n)
    lat = cy[k] + r * np.sin(a)
    lon = cx[k] + r * np.cos(a) / np.cos(np.radians(cy[k]))
    t = np.sort(rng.integers(0, DAYS * 86_400, n)) + START.value // 10**9
    dev = rng.integers(0, N_DEVICES, n)
    ids = {"int": pa.array(dev.astype(np.int64) * 7919 + 10**12)}
    text = pa.array(_uuids(rng, N_DEVICES)[dev], pa.string())
    ids["uuid"] = ids["uuid-dict"] = text
    ts = pa.array(t * 1_000_000, pa.timestamp("us", tz="UTC"))
    out: dict[str, Any] = {"zones": zone_file}
    bounds = np.linspace(0, n, FILES + 1).astype(np.int64)
    for flavour in ID_FLAVOURS:
        d = folder / flavour
        d.mkdir(parents=True, exist_ok=True)
        table = pa.table({"device_id": ids[flavour], "timestamp": ts, "lat": lat, "lon": lon})
        dictionary = ["timestamp", "lat", "lon"]  # the device column as the flavour says
        if flavour != "uuid":
            dictionary.append("device_id")
        for j in range(FILES):
            part = table.slice(bounds[j], bounds[j + 1] - bounds[j])
            # a dictionary page big enough for every id (pyarrow's 1 MB default would
            # fall back to plain pages for 40 k UUIDs, read like the plain flavour)
            pq.write_table(part, d / f"part-{j}.parquet", use_dictionary=dictionary,
                           dictionary_pagesize_limit=64 << 20)  # fmt: skip
        out[flavour] = d
    os.sync()
    return out


def _cli(zone_file: Path, pings: Path, out: Path) -> float:
    """Wall seconds of ``footfall count`` in a fresh process."""
    args = [sys.executable, "-c", "from footfall.cli import main; main()", "count", str(pings),
            "--zones", str(zone_file), "--out", str(out), "-q"]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        from footfall.errors import FootfallError

        raise FootfallError(f"benchmark count failed: {proc.stderr.strip()[-500:]}")
    return seconds


def _in_process(zones: Any, index: Any, pings: Path, out: Path) -> tuple[float, pd.DataFrame]:
    from footfall.count import count_passages

    start = time.perf_counter()
    hourly = count_passages(pings, zones, index=index, out=out)
    return time.perf_counter() - start, hourly


def _floor(pings: Path) -> float:
    """Seconds for pyarrow to read the four columns (threads on), nothing else."""
    start = time.perf_counter()
    files = sorted(pings.glob("*.parquet"))
    for f in files:
        pq.read_table(f, columns=COLUMNS)
    return time.perf_counter() - start


_DUCKDB_SQL = """
SELECT z.zone_id,
       date_trunc('hour', timezone('Europe/Paris', p.timestamp)) AS hour,
       count(DISTINCT p.device_id) AS passages, count(*) AS pings
FROM read_parquet('{glob}') p JOIN zones z ON ST_Contains(z.geom, ST_Point(p.lon, p.lat))
GROUP BY ALL
"""


def _duckdb(zones: Any, pings: Path) -> tuple[float, pd.DataFrame]:
    from footfall.bench.assign import _duckdb_connect

    con = _duckdb_connect()
    con.execute("SET enable_progress_bar = false")  # it would print into the report
    con.register(
        "zone_wkb",
        pd.DataFrame({"zone_id": list(zones.zone_ids), "wkb": zones.gdf.geometry.to_wkb()}),
    )
    con.execute("CREATE TABLE zones AS SELECT zone_id, ST_GeomFromWKB(wkb) AS geom FROM zone_wkb")
    start = time.perf_counter()
    df = con.execute(_DUCKDB_SQL.format(glob=(pings / "*.parquet").as_posix())).fetchdf()
    return time.perf_counter() - start, df


#: DuckDB as a user runs it: a fresh process from the files to a Parquet table.
_DUCKDB_JOB = """
import importlib.util, sys
from pathlib import Path
import duckdb
zones, pings, out, sql = sys.argv[1:]
con = duckdb.connect()
spec = importlib.util.find_spec("duckdb_ext")  # the spatial extension's wheel: no download
if spec is not None and spec.submodule_search_locations:
    ext = Path(list(spec.submodule_search_locations)[0]) / "extensions"
    con.execute(f"SET extension_directory = '{ext.as_posix()}'")
con.execute("LOAD spatial")
con.execute("SET enable_progress_bar = false")
con.execute(f"CREATE TABLE zones AS SELECT zone_id, geom FROM ST_Read('{zones}')")
con.execute(f"COPY ({sql}) TO '{out}' (FORMAT parquet)")
"""


def _duckdb_process(zone_file: Path, pings: Path, out: Path) -> tuple[float, pd.DataFrame]:
    """Wall seconds of the DuckDB job in a fresh process, and its table."""
    sql = _DUCKDB_SQL.format(glob=(pings / "*.parquet").as_posix())
    args = [sys.executable, "-c", _DUCKDB_JOB, str(zone_file), str(pings), str(out), sql]
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        from footfall.errors import FootfallError

        raise FootfallError(f"benchmark DuckDB job failed: {proc.stderr.strip()[-500:]}")
    return seconds, pq.read_table(out).to_pandas()


def _duckdb_mismatches(ours: pd.DataFrame, theirs: pd.DataFrame) -> int:
    """Zone-hours whose passages differ between our hourly table and DuckDB's."""
    a = ours[ours["passages"] > 0]
    a = a.assign(h=a["hour"].dt.tz_localize(None)).set_index(["zone_id", "h"])["passages"]
    b = theirs.assign(h=pd.to_datetime(theirs["hour"]).dt.tz_localize(None))
    b = b.set_index(["zone_id", "h"])["passages"]
    both = pd.concat([a.rename("a"), b.rename("b")], axis=1).fillna(-1)
    return int((both["a"] != both["b"]).sum())


def users_rows(
    zones: Any, n: int, repeat: int = 2, duckdb: bool = True, progress: Any = print
) -> list[dict[str, Any]]:
    """Rows of the user-facing comparison (see the module); `n` pings per id flavour."""
    from footfall.index import ZoneIndex
    from footfall.zones import read_zones

    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="footfall-users-") as tmp:
        tmp = Path(tmp)
        progress(f"end-to-end as users feel it: writing {n:,} pings x 3 id flavours")
        data = make_user_pings(zones, tmp, n)
        sub = read_zones(data["zones"])
        index = ZoneIndex(sub)
        _in_process(sub, index, data["int"], tmp / "warm.parquet")  # numba's caches
        best: dict[tuple[str, str], float] = {}
        ours: pd.DataFrame | None = None

        def keep(key: tuple[str, str], seconds: float) -> None:
            best[key] = min(best.get(key, float("inf")), seconds)

        for r in range(max(1, repeat)):
            progress(f"end-to-end as users feel it: round {r + 1} of {repeat}")
            for flavour in ID_FLAVOURS:  # back to back: floor, CLI, in-process
                pings = data[flavour]
                keep((flavour, "pyarrow read floor"), _floor(pings))
                if flavour == "int" or n >= SMOKE:
                    cli = _cli(data["zones"], pings, tmp / "c.parquet")
                    keep((flavour, "footfall count CLI"), cli)
                seconds, hourly = _in_process(sub, index, pings, tmp / "i.parquet")
                keep((flavour, "count_passages"), seconds)
                if flavour == "int":
                    ours = hourly
        mismatches = None
        if duckdb:
            progress("end-to-end as users feel it: DuckDB spatial")
            seconds, theirs = _duckdb(sub, data["int"])
            keep(("int", "DuckDB spatial"), seconds)
            mismatches = _duckdb_mismatches(ours, theirs)
            seconds, theirs = _duckdb_process(data["zones"], data["int"], tmp / "duck.parquet")
            keep(("int", "DuckDB spatial, fresh process"), seconds)
            mismatches += _duckdb_mismatches(ours, theirs)
    load1 = os.getloadavg()
    load = f"load average {load0[0]:.1f} before, {load1[0]:.1f} after"
    rows = []
    for (flavour, method), seconds in best.items():
        vs_int = None if flavour == "int" else seconds / best[("int", method)]
        if method == "footfall count CLI":
            ratio = seconds / best[(flavour, "pyarrow read floor")]
            note = "fresh process, start-up included; ours/x: CLI / read floor"
            if vs_int is not None:
                note += f"; {flavour} / int ids: {vs_int:.2f}x"
        elif method.startswith("DuckDB spatial"):
            fresh = method != "DuckDB spatial"
            ratio = seconds / best[("int", "footfall count CLI" if fresh else "count_passages")]
            note = (
                "read_parquet -> ST_Contains -> local hour -> count(DISTINCT), int ids; "
                + ("a fresh process, files to Parquet; ours/x: DuckDB / our CLI"
                   if fresh else "the query in this process; ours/x: DuckDB / count_passages")
                + "; mismatch: zone-hours differing from ours (both DuckDB runs)"
            )  # fmt: skip
        elif method == "count_passages":
            ratio, note = vs_int, "in process, index prebuilt; ours/x: these ids / int ids"
        else:
            ratio, note = vs_int, f"pyarrow read_table, 4 columns; ours/x: / int ids; {load}"
        rows.append(
            {
                "section": "e2e",
                "mix": flavour,
                "method": method,
                "points": n,
                "seconds": seconds,
                "points_per_s": n / seconds,
                "ours_vs_method": ratio,
                "mismatches": mismatches if method.startswith("DuckDB") else 0,
                "inside_share": None,
                "peak_rss_mb": _peak_rss_mb(),
                "note": note,
                "load_average": [load0[0], load1[0]],
            }
        )
    return rows
