"""``footfall count`` end to end: outputs, resume after a real kill, bad files, privacy."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import footfall as ff
from common import rewrite_checkpoint
from footfall.cli import cli
from footfall.count import load_partial
from footfall.simulation import simulate
from footfall.testing import assert_hourly_equal
from footfall.zones import ZoneSet
from test_hourly import small_zones

FOOTFALL = str(Path(sys.executable).parent / "footfall")


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    """Ninety days over a spring DST change, many day files: enough to kill a run midway."""
    out = tmp_path_factory.mktemp("sim") / "pings"
    return simulate(small_zones(), "2020-03-01", "2020-05-29", out, seed=3, devices=12_000)


@pytest.fixture(scope="module")
def uninterrupted(sim, zones_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "hourly.parquet"
    result = CliRunner().invoke(cli, ["count", str(sim.pings), "--zones", str(zones_dir),
                                      "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def test_outputs_manifest_and_accounting(sim, uninterrupted):
    hourly = ff.read_hourly(uninterrupted)
    assert list(hourly.columns) == ["zone_id", "hour", "passages", "pings"]
    assert hourly["passages"].dtype == np.int64 and hourly["pings"].dtype == np.int64
    assert str(hourly["hour"].dt.tz) == "Europe/Paris"
    assert hourly.equals(hourly.sort_values(["zone_id", "hour"], ignore_index=True))
    # the simulator's planted passages are recovered exactly
    per_zone = hourly.groupby("zone_id")["passages"].sum()
    assert per_zone.to_dict() == sim.truth_zones.set_index("zone_id")["passages"].to_dict()
    panel = ff.read_panel(uninterrupted)
    assert panel["active_devices"].tolist() == sim.truth_days["active_devices"].tolist()
    assert panel["day"].tolist() == sim.truth_days["day"].tolist()
    m = hourly.attrs["manifest"]
    acc = m["accounting"]
    assert acc["rows_read"] == sim.rows
    assert acc["rows_read"] == acc["rows_in_zone"] + acc["rows_outside"] + acc["rows_quarantined"]
    unseen = ("bad_timestamp", "low_accuracy")  # no garbled text; no accuracy filter
    assert all(acc["quarantined"][r] > 0 for r in acc["quarantined"] if r not in unseen)
    assert acc["rows_in_zone"] == hourly["pings"].sum()
    assert len(m["inputs"]) == len(sim.truth_days)
    assert all(len(i["blake3"]) == 64 and i["size"] > 0 for i in m["inputs"])
    assert m["zones"]["hash"] == small_zones().hash
    assert m["parameters"]["tz"] == "Europe/Paris" and "numpy" in m["versions"]
    quarantine = pq.read_table(uninterrupted.with_name("hourly.quarantine.parquet"))
    assert quarantine.num_rows == acc["rows_quarantined"]
    assert not uninterrupted.with_name("hourly.checkpoints").exists()


_CLI = """
import atexit, json, sys
from footfall.cli import main
loaded = lambda: [m for m in ("pandas", "geopandas", "pyproj") if m in sys.modules]
atexit.register(lambda: print(json.dumps(loaded())))  # main() ends the process
main(sys.argv[1:])
"""


def test_a_warm_cli_count_imports_neither_pandas_nor_geopandas(
    sim, zones_dir, uninterrupted, tmp_path
):
    """Issue 15: with the zone and index caches warm, the command skips their 0.4 s import."""
    env = {**os.environ, "FOOTFALL_CACHE_DIR": str(tmp_path / "cache")}

    def count(out: Path) -> list[str]:
        args = [sys.executable, "-c", _CLI, "count", str(sim.pings), "--zones", str(zones_dir),
                "--out", str(out), "-q"]  # fmt: skip
        proc = subprocess.run(args, capture_output=True, text=True, env=env, check=True)
        return json.loads(proc.stdout.splitlines()[-1])

    assert "geopandas" in count(tmp_path / "cold.parquet")  # builds the caches
    assert count(tmp_path / "warm.parquet") == []
    for name in ("cold", "warm"):
        assert pq.read_table(tmp_path / f"{name}.parquet").equals(pq.read_table(uninterrupted))


def test_the_console_script_ends_without_teardown_but_completely(sim, zones_dir, tmp_path):
    """main() skips the interpreter's teardown: output flushed, status kept, atexit run."""
    script = (
        "import atexit, sys\nfrom footfall.cli import main\n"
        "atexit.register(lambda: open(sys.argv[1], 'a').write('ran '))\nmain(sys.argv[2:])"
    )
    mark = tmp_path / "atexit"

    def footfall(*args: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-c", script, str(mark), *args]
        return subprocess.run(cmd, capture_output=True, text=True)

    out = tmp_path / "h.parquet"
    ok = footfall("count", str(sim.pings), "--zones", str(zones_dir), "--out", str(out))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[-1].endswith(f"zone-hours written to {out}")  # flushed
    missing = footfall("count", str(tmp_path / "nowhere"), "--zones", str(zones_dir),
                       "--out", str(out))  # fmt: skip
    assert missing.returncode == 1 and "nowhere" in missing.stderr
    usage = footfall("count")
    assert usage.returncode == 2 and "Missing argument" in usage.stderr
    assert mark.read_text() == "ran ran ran "


def test_no_device_identifier_in_any_output(sim, uninterrupted):
    ids = pq.read_table(sim.pings, columns=["device_id"]).column(0).drop_null().to_numpy()
    ids = np.unique(ids)
    outputs = list(uninterrupted.parent.iterdir())
    assert {p.name for p in outputs} == {
        "hourly.parquet", "hourly.panel.parquet", "hourly.quarantine.parquet",
        "hourly.replicates.parquet", "hourly.manifest.json",
    }  # fmt: skip
    id_bytes = {int(i).to_bytes(8, "little") for i in ids[:: max(1, len(ids) // 3000)]}
    id_text = {str(i).encode() for i in ids}
    for path in outputs:
        data = path.read_bytes()
        assert not any(b in data for b in id_bytes), path
        found = [t for t in id_text if t in data]
        assert not found, (path, found[:3])


def test_resume_after_sigkill_gives_the_same_output(sim, zones_dir, uninterrupted, tmp_path):
    out = tmp_path / "hourly.parquet"
    args = [FOOTFALL, "count", str(sim.pings), "--zones", str(zones_dir), "--out", str(out),
            "--workers", "1", "-q"]  # fmt: skip
    proc = subprocess.Popen(args)
    run_dir = out.with_name("hourly.checkpoints")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        done = list(run_dir.glob("*/*.ckpt"))
        if len(done) >= 5:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.002)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not out.exists()  # never a half-written output
    finished = list(run_dir.glob("*/*.ckpt"))
    assert 5 <= len(finished) < len(sim.truth_days)
    # Proof of reuse: a copy of the checkpoints with one tampered count shows it.
    tampered = tmp_path / "tampered.parquet"
    shutil.copytree(run_dir, tampered.with_name("tampered.checkpoints"))
    victim = next(p for p in finished if load_partial(p).visit_pings.size)
    victim = tampered.with_name("tampered.checkpoints") / victim.relative_to(run_dir)

    def add_1000_pings(part):
        part.visit_pings[0] += 1000

    rewrite_checkpoint(victim, add_1000_pings)
    subprocess.run([*args[:6], str(tampered), *args[7:]], check=True)
    assert (
        ff.read_hourly(tampered)["pings"].sum()
        == ff.read_hourly(uninterrupted)["pings"].sum() + 1000
    )

    subprocess.run(args, check=True)
    resumed = ff.read_hourly(out)
    reference = ff.read_hourly(uninterrupted)
    assert_hourly_equal(resumed, reference, check_panel=True)
    # The replicate tables split devices into groups by their keyed pseudonym: each run
    # draws its own secret, so two runs group devices differently (a resumed run keeps
    # its own); summed over the groups they are the exact tables of both runs.
    for table in (resumed, reference):
        visits = ff.read_replicates(table).visits
        daily = visits.groupby(["zone_id", "day"])["passages"].sum()
        assert daily.sum() == table["passages"].sum()
    for m in (resumed.attrs["manifest"], reference.attrs["manifest"]):
        m.pop("created_utc"), m.pop("outputs"), m.pop("argv")
        m["output_files"].pop("replicates")
    assert resumed.attrs["manifest"] == reference.attrs["manifest"]
    pd.testing.assert_frame_equal(
        pd.read_parquet(out.with_name("hourly.quarantine.parquet")),
        pd.read_parquet(uninterrupted.with_name("hourly.quarantine.parquet")),
    )
    assert not run_dir.exists()


def test_two_map_threads_under_the_workqueue_threading_layer(sim, zones_dir, uninterrupted):
    """numba's workqueue layer (where OpenMP is missing) aborts when two threads enter a
    parallel kernel at once: the count's map threads assign on their own thread."""
    out = uninterrupted.with_name("workqueue.parquet")
    env = {**os.environ, "NUMBA_THREADING_LAYER": "workqueue"}
    args = [FOOTFALL, "count", str(sim.pings), "--zones", str(zones_dir), "--out", str(out),
            "--workers", "2", "-q"]  # fmt: skip
    subprocess.run(args, check=True, env=env, timeout=300)
    assert_hourly_equal(ff.read_hourly(out), ff.read_hourly(uninterrupted), check_panel=True)


def test_bad_files_fail_clearly_or_are_skipped(sim, zones_dir, uninterrupted, tmp_path):
    pings = tmp_path / "pings"
    shutil.copytree(sim.pings, pings)
    good = sorted(pings.glob("day=*/*.parquet"))
    (pings / "day=2020-06-01").mkdir()
    bad = pings / "day=2020-06-01" / "part-0.parquet"
    bad.write_bytes(os.urandom(2000))
    truncated = good[10]
    truncated.write_bytes(truncated.read_bytes()[:-300])
    runner = CliRunner()
    out = tmp_path / "h.parquet"
    result = runner.invoke(cli, ["count", str(pings), "--zones", str(zones_dir), "--out", str(out)])
    assert result.exit_code != 0
    assert "unreadable ping file" in result.output and "--skip-bad-files" in result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert not out.exists()
    result = runner.invoke(cli, ["count", str(pings), "--zones", str(zones_dir), "--out", str(out),
                                 "--skip-bad-files"])  # fmt: skip
    assert result.exit_code == 0, result.output
    skipped = json.loads(out.with_name("h.manifest.json").read_text())["skipped_files"]
    assert sorted(s["path"] for s in skipped) == sorted([str(bad), str(truncated)])
    # the same as counting the good files only
    expected = ff.count_passages([p for p in good if p != truncated], small_zones())
    assert_hourly_equal(ff.read_hourly(out), expected, check_panel=True)


def test_cli_messages_quiet_and_bad_options(sim, zones_dir, tmp_path):
    runner = CliRunner()
    one_day = sorted(sim.pings.glob("day=*/*.parquet"))[0]
    base = ["count", str(one_day), "--zones", str(zones_dir), "--out", str(tmp_path / "h.parquet")]
    result = runner.invoke(cli, base)
    assert result.exit_code == 0 and "rows:" in result.output and "zone-hours" in result.output
    assert runner.invoke(cli, [*base, "-q"]).output == ""
    for extra, message in [
        (["--tz", "Mars/Olympus"], "time zone 'Mars/Olympus' is unknown"),
        (["--device-col", "uid"], "no column 'uid'"),
        (["--since", "2030-01-01", "--until", "2020-01-01"], "end is not after the start"),
    ]:
        result = runner.invoke(cli, [*base, *extra])
        assert result.exit_code != 0 and message in result.output, result.output
        assert "Traceback" not in result.output
    result = runner.invoke(cli, ["count", str(one_day), "--zones", str(tmp_path / "no"),
                                 "--out", str(tmp_path / "x.parquet")])  # fmt: skip
    assert result.exit_code != 0 and "no such file" in result.output


def test_progress_bar_and_csv_input(sim, tmp_path, capsys):
    one_day = sorted(sim.pings.glob("day=*/*.parquet"))[5]
    csv = tmp_path / "day.csv"
    pd.read_parquet(one_day).to_csv(csv, index=False)
    a = ff.count_passages(csv, small_zones(), progress=True)
    b = ff.count_passages(one_day, small_zones())
    assert_hourly_equal(a, b, check_panel=True)
    captured = capsys.readouterr()
    assert "rows" in captured.out + captured.err


def test_bench_end_to_end_checks_the_planted_passages(tmp_path):
    from footfall.bench.e2e import bench_end_to_end

    zones = ZoneSet(small_zones().gdf.iloc[:2])
    r = bench_end_to_end(zones, days=1, devices=300, scale=0.3, workdir=tmp_path, workers=1)
    assert r["mismatched_zones"] == 0
    assert r["rows"] > 500 and r["bytes"] > 0 and r["pings_per_s"] > 0
    assert 0 < r["in_zone_share"] < 1 and r["peak_rss_mb"] > 50
