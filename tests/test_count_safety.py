"""The count run's robustness and privacy (issues 12 and 13): one consistent output set,
a lock per output, the counted zones, resume after a move, damaged checkpoints, warnings,
and a private work folder with its run secret."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import footfall as ff
from common import rewrite_checkpoint
from footfall.cli import cli
from footfall.count._checkpoint import SECRET_FILE, _load_meta, _read_meta
from footfall.count._spec import CountSpec
from footfall.errors import InputError
from footfall.manifest import beside
from footfall.testing import assert_hourly_equal
from test_hourly import random_pings, small_index, small_zones

FOOTFALL = str(Path(sys.executable).parent / "footfall")


@pytest.fixture(scope="module")
def pings(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pings") / "p.parquet"
    random_pings(3000, seed=5).to_parquet(path, index=False)
    return path


def count(args: list[str]):
    return CliRunner().invoke(cli, ["count", *map(str, args)])


def counted(pings: Path, zones_dir: Path, out: Path) -> Path:
    result = count([pings, "--zones", zones_dir, "--out", out, "-q"])
    assert result.exit_code == 0, result.output
    return out


# --- 12.7: one consistent output set ----------------------------------------------------------


def test_manifest_records_each_output_hash_and_readers_verify(pings, zones_dir, tmp_path):
    out = counted(pings, zones_dir, tmp_path / "h.parquet")
    manifest = json.loads(beside(out, "manifest", "json").read_text())
    assert set(manifest["output_files"]) == {"hourly", "panel", "quarantine", "replicates"}
    assert ff.read_hourly(out)["passages"].sum() > 0
    # An hourly table of another run beside this manifest (a kill between the renames).
    other = counted(pings, zones_dir, tmp_path / "other" / "h.parquet")
    hourly = pq.read_table(other)
    pq.write_table(hourly.slice(1), out)  # one zone-hour less
    with pytest.raises(InputError, match="is not the one its manifest h.manifest.json records"):
        ff.read_hourly(out)
    args = ["rank", out, "--zones", zones_dir, "--out", tmp_path / "p.csv"]
    result = CliRunner().invoke(cli, list(map(str, args)))
    assert result.exit_code == 1 and "count again" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "p.csv").exists()
    # Same for the panel, read alone.
    shutil.copy(other, out)
    pq.write_table(pq.read_table(beside(other, "panel")).slice(1), beside(out, "panel"))
    with pytest.raises(InputError, match="h.panel.parquet: its content"):
        ff.read_panel(out)
    # No manifest at all: refused, with the remedy.
    beside(out, "manifest", "json").unlink()
    with pytest.raises(InputError, match="no manifest beside it .*count again"):
        ff.read_hourly(out)


def test_write_hourly_gives_a_set_that_rank_reads(pings, zones_dir, tmp_path):
    hourly = ff.read_hourly(counted(pings, zones_dir, tmp_path / "h.parquet"))
    path = ff.write_hourly(hourly, tmp_path / "copy.parquet")
    again = ff.read_hourly(path)
    assert_hourly_equal(again, hourly, check_panel=True)
    assert again.attrs["manifest"]["command"] == "count"  # the count's manifest, as upstream


def test_leftover_temporary_files_of_dead_runs_are_removed(pings, zones_dir, tmp_path):
    out = tmp_path / "h.parquet"
    names = ("h.parquet", "h.panel.parquet", "h.quarantine.parquet", "h.replicates.parquet",
             "h.manifest.json")  # fmt: skip
    dead = [tmp_path / f".{name}.tmp-999999" for name in names]
    keep = tmp_path / ".other.parquet.tmp-999999"
    for path in [*dead, keep]:
        path.write_bytes(b"cut short")
    counted(pings, zones_dir, out)
    assert not any(p.exists() for p in dead) and keep.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        "h.manifest.json", "h.panel.parquet", "h.parquet", "h.quarantine.parquet",
        "h.replicates.parquet",
    ]  # fmt: skip


# --- 12.8: a lock on the output -----------------------------------------------------------------

HOLD_LOCK = """
import sys, time
from footfall.count._output import output_lock
with output_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_second_count_on_one_output_fails_at_once(pings, zones_dir, tmp_path):
    out = tmp_path / "h.parquet"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(out)], env=env,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        start = time.monotonic()
        args = [FOOTFALL, "count", str(pings), "--zones", str(zones_dir), "--out", str(out)]
        second = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
        assert second.returncode == 1
        assert f"another count is writing {out} (pid {holder.pid})" in second.stderr
        assert "Traceback" not in second.stderr and time.monotonic() - start < 60
        assert not out.exists() and not beside(out, "checkpoints", "").exists()
        cleaning = count(["--clean", out])  # nor can --clean pull the folder from under it
        assert cleaning.exit_code == 1 and "another count is writing" in cleaning.output
    finally:
        holder.kill()
        holder.wait()
    # The lock died with its process (SIGKILL): the next count runs, and removes it.
    second = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert second.returncode == 0, second.stderr
    assert not beside(out, "lock", "").exists()


def test_two_counts_on_one_output(zones_dir, tmp_path):
    """Two real `footfall count` processes: the second fails at once, the first finishes."""
    many_small_files(tmp_path / "pings", make_ids("int"))
    out = tmp_path / "out" / "h.parquet"
    args = [FOOTFALL, "count", str(tmp_path / "pings"), "--zones", str(zones_dir),
            "--out", str(out), "--workers", "1", "-q"]  # fmt: skip
    first = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    lock = beside(out, "lock", "")
    deadline = time.monotonic() + 60
    while not lock.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    second = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert first.poll() is None, "the first count ended before the second started"
    assert second.returncode == 1
    assert second.stderr.strip() == f"Error: another count is writing {out} (pid {first.pid})"
    assert first.wait(timeout=300) == 0, first.stderr.read()
    assert ff.read_hourly(out)["passages"].sum() > 0


# --- 12.9: the counted zone set -----------------------------------------------------------------


def test_rank_and_report_refuse_another_zone_set(pings, zones_dir, tmp_path):
    out = counted(pings, zones_dir, tmp_path / "h.parquet")
    edited = tmp_path / "edited"
    shutil.copytree(zones_dir, edited)
    first = sorted(edited.glob("*.geojson"))[0]
    doc = json.loads(first.read_text())
    doc["features"][0]["properties"]["population"] += 1
    first.write_text(json.dumps(doc))
    counted_hash = ff.read_zones(zones_dir).hash
    edited_hash = ff.read_zones(edited).hash
    for command, target in (("rank", "p.csv"), ("report", "r.html")):
        args = [command, out, "--zones", edited, "--out", tmp_path / target]
        result = CliRunner().invoke(cli, list(map(str, args)))
        assert result.exit_code == 1, result.output
        line = result.output.strip()
        assert "\n" not in line and "Traceback" not in line
        assert counted_hash[:12] in line and edited_hash[:12] in line
        assert "count again" in line and str(zones_dir) in line
        # the counted set passes the check (whatever the palmarès says of 3 days of data)
        args[3] = zones_dir
        result = CliRunner().invoke(cli, list(map(str, args)))
        assert "zone set" not in result.output


# --- 12.10, 12.6 and 13: failed run, resume after a move, damaged checkpoints -------------------


def failing_run(tmp_path: Path, zones_dir: Path) -> tuple[Path, Path, Path]:
    """A count that maps a good file, then fails on a ragged CSV: its work folder stays."""
    src = tmp_path / "in"
    src.mkdir()
    random_pings(3000, seed=8).to_parquet(src / "good.parquet", index=False)
    (src / "ragged.csv").write_text("device_id,timestamp,lat,lon\n1,1603500000,45,4\n1,2,3,4,5,6\n")
    out = tmp_path / "out" / "h.parquet"
    result = count([src / "good.parquet", src / "ragged.csv", "--zones", zones_dir, "--out", out,
                    "--workers", "1"])  # fmt: skip
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "ragged.csv: unreadable ping file" in lines[0]
    work = beside(out, "checkpoints", "")
    assert f"work folder {work} holds pseudonymised device data" in lines[0]
    assert f"footfall count --clean {out}" in lines[0]
    return src, out, work


def test_failed_run_leaves_a_private_folder_that_clean_removes(zones_dir, tmp_path):
    old = os.umask(0)  # the loosest umask: the work files must stay private anyway
    try:
        src, out, work = failing_run(tmp_path, zones_dir)
    finally:
        os.umask(old)
    assert_private(work)
    secret = next(work.glob(f"*/{SECRET_FILE}"))
    assert len(secret.read_bytes()) == 16
    result = count(["--clean", out])
    assert result.exit_code == 0 and str(work) in result.output
    assert not work.exists() and list(out.parent.iterdir()) == []


def test_resume_after_moving_the_input_describes_the_new_paths(zones_dir, tmp_path):
    src, out, work = failing_run(tmp_path, zones_dir)
    secret = next(work.glob(f"*/{SECRET_FILE}")).read_bytes()
    (checkpoint,) = work.glob("*/*.ckpt")

    def add_1000_pings(part):  # proof that the resumed run reuses the checkpoint
        part.visit_pings[0] += 1000

    rewrite_checkpoint(checkpoint, add_1000_pings)
    moved = tmp_path / "moved" / "renamed.parquet"
    moved.parent.mkdir()
    (src / "good.parquet").rename(moved)
    # a resumed run that fails again keeps the run's secret
    (moved.parent / "ragged.csv").write_text("device_id,timestamp,lat,lon\n1,2,3,4,5\n")
    assert count([moved, moved.parent / "ragged.csv", "--zones", zones_dir, "--out", out]).exit_code
    assert next(work.glob(f"*/{SECRET_FILE}")).read_bytes() == secret
    result = count([moved, "--zones", zones_dir, "--out", out, "-q"])
    assert result.exit_code == 0, result.output
    fresh = ff.count_passages(moved, zones_dir)
    assert ff.read_hourly(out)["pings"].sum() == fresh["pings"].sum() + 1000  # resumed
    quarantine = pq.read_table(beside(out, "quarantine")).to_pandas()
    assert len(quarantine) and set(quarantine["source"]) == {str(moved)}
    manifest = json.loads(beside(out, "manifest", "json").read_text())
    assert [i["path"] for i in manifest["inputs"]] == [str(moved)]
    assert not work.exists()  # deleted on success, secret included


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_checkpoint_is_mapped_again(zones_dir, tmp_path, damage):
    src, out, work = failing_run(tmp_path, zones_dir)
    (checkpoint,) = work.glob("*/*.ckpt")
    data = bytearray(checkpoint.read_bytes())
    meta = _read_meta(checkpoint)
    if damage == "truncate":
        data = data[: len(data) - 5]
    else:
        data[meta["base"] + 3] ^= 0x10  # one bit of the arrays
    checkpoint.write_bytes(bytes(data))
    from footfall.ingest import list_fragments

    (fragment,) = list_fragments(src / "good.parquet", CountSpec().columns)
    assert _load_meta(checkpoint, fragment) is None
    result = count([src / "good.parquet", "--zones", zones_dir, "--out", out, "-q"])
    assert result.exit_code == 0, result.output
    assert_hourly_equal(ff.read_hourly(out), ff.count_passages(src / "good.parquet", zones_dir))


def test_window_errors_are_one_line():
    for window, message in [
        (("yesterday", "2030-01-01"), "'yesterday' is not a date"),
        (("2020-01-01", "2263-01-01"), "range of nanosecond timestamps"),
    ]:
        with pytest.raises(InputError, match=message):
            CountSpec(window=window).offsets  # noqa: B018


# --- 12.4, 12.5: warnings and refusals ----------------------------------------------------------


def test_swapped_coordinates_warn_with_the_fix():
    df = random_pings(2000, seed=3).rename(columns={"lat": "lon", "lon": "lat"})
    with pytest.warns(UserWarning, match=r"swapped\? .*--lat-col lon --lon-col lat.*columns="):
        hourly = ff.count_passages(df, small_zones(), index=small_index())
    assert hourly.attrs["manifest"]["warnings"]
    with _no_warning():
        ff.count_passages(random_pings(2000, seed=3), small_zones(), index=small_index())


class _no_warning:
    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings(record=True)
        self.caught = self._catch.__enter__()
        warnings.simplefilter("always")

    def __exit__(self, *exc):
        self._catch.__exit__(*exc)
        assert not [w for w in self.caught if issubclass(w.category, UserWarning)]


def test_everything_quarantined_raises_and_most_warns():
    df = random_pings(2000, seed=4)
    micro = df.assign(timestamp=df["timestamp"] * 1_000_000)
    with pytest.raises(InputError, match="no valid row.*implausible_timestamp.*microseconds"):
        ff.count_passages(micro, small_zones(), index=small_index())
    half = df.assign(device_id=df["device_id"].astype("Int64").where(df.index % 3 == 0))
    with pytest.warns(UserWarning, match=r"6\d% of the rows .* quarantined, mostly null_device"):
        ff.count_passages(half, small_zones(), index=small_index())


# --- 13: the work folder of a killed run is private and holds no identifier --------------------


def assert_private(folder: Path) -> None:
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    for path in folder.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


def many_small_files(folder: Path, ids: np.ndarray, files: int = 400) -> None:
    """A slow-enough input: many small files of in-zone pings (text or integer ids)."""
    df = random_pings(files * 60, seed=9)
    df["device_id"] = ids[np.asarray(df["device_id"]) % len(ids)]
    folder.mkdir()
    for i, rows in enumerate(np.array_split(np.arange(len(df)), files)):
        part = df.iloc[rows]
        pq.write_table(
            pa.Table.from_pandas(part, preserve_index=False), folder / f"{i:04d}.parquet"
        )


def kill_midway(pings: Path, zones_dir: Path, out: Path) -> None:
    args = [FOOTFALL, "count", str(pings), "--zones", str(zones_dir), "--out", str(out),
            "--workers", "1", "-q"]  # fmt: skip
    proc = subprocess.Popen(args, preexec_fn=lambda: os.umask(0))
    deadline = time.monotonic() + 120
    work = beside(out, "checkpoints", "")
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list(work.glob("*/*.ckpt"))) >= 3:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.002)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"


def splitmix64(x: np.ndarray) -> np.ndarray:
    v = x.astype(np.uint64)
    with np.errstate(over="ignore"):
        v ^= v >> np.uint64(30)
        v *= np.uint64(0xBF58476D1CE4E5B9)
        v ^= v >> np.uint64(27)
        v *= np.uint64(0x94D049BB133111EB)
        v ^= v >> np.uint64(31)
    return v


ID_KINDS = ["int", "uuid"]


def make_ids(kind: str) -> np.ndarray:
    rng = np.random.default_rng(11)
    ints = rng.integers(10**15, 2**62, 300)  # long enough not to appear by chance
    if kind == "int":
        return ints
    return np.array([str(uuid.UUID(int=int(i))) for i in ints], dtype=object)


@pytest.fixture(scope="module", params=ID_KINDS)
def killed(request, zones_dir, tmp_path_factory):
    base = tmp_path_factory.mktemp(f"killed-{request.param}")
    ids = make_ids(request.param)
    many_small_files(base / "pings", ids)
    out = base / "out" / "h.parquet"
    kill_midway(base / "pings", zones_dir, out)
    return request.param, ids, out


def work_files(out: Path) -> list[Path]:
    return [p for p in out.parent.rglob("*") if p.is_file()]


def test_killed_run_leaves_only_private_files(killed):
    _, _, out = killed
    work = beside(out, "checkpoints", "")
    assert_private(work)
    assert len(list(work.glob(f"*/{SECRET_FILE}"))) == 1
    # beside the private folder, only the (dead) lock: no output of a run never finished
    assert {p.name for p in out.parent.iterdir()} <= {work.name, "h.lock"}
    for path in work_files(out):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_killed_run_holds_no_raw_identifier(killed):
    kind, ids, out = killed
    texts = [str(i).encode() for i in ids]
    binary = [int(i).to_bytes(8, "little") for i in ids] if kind == "int" else []
    for path in work_files(out):
        data = path.read_bytes()
        assert not [t for t in texts if t in data], path
        assert not [b for b in binary if b in data], path


def test_killed_run_holds_no_public_hash_of_an_identifier(killed):
    kind, ids, out = killed
    if kind == "int":
        public = splitmix64(ids.astype(np.int64))
    else:
        public = pd.util.hash_array(ids, categorize=False)
    needles = [int(v).to_bytes(8, "little") for v in public]
    for path in work_files(out):
        data = path.read_bytes()
        assert not [n for n in needles if n in data], path
