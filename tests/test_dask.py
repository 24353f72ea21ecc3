"""The Dask engine gives the local engine's output, row for row, on real Dask clusters."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from distributed import Client

import footfall as ff
from common import rewrite_checkpoint
from footfall.cli import cli
from footfall.count.engines.dask import local_cluster
from footfall.errors import InputError
from footfall.manifest import beside, read_manifest
from footfall.simulation import simulate
from footfall.tables import read_hourly, read_panel
from footfall.testing import assert_hourly_equal
from footfall.zones import ZoneSet

ZONES_DIR = Path(__file__).resolve().parents[1] / "zones"
DASK_BIN = Path(sys.executable).with_name("dask")
FOOTFALL = Path(sys.executable).with_name("footfall")
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def zone_file(tmp_path_factory):
    gdf = ff.read_zones(ZONES_DIR).gdf
    path = tmp_path_factory.mktemp("zones") / "zones.geojson"
    ff.write_zones(ZoneSet(gdf.iloc[::85].reset_index(drop=True)), path, by_town=False)
    return path  # 5 real towns


@pytest.fixture(scope="module")
def zones(zone_file):
    return ff.read_zones(zone_file)


@pytest.fixture(scope="module")
def pings(zones, tmp_path_factory):
    """Three months across the autumn DST change, shuffled over files of both formats.

    Rows are shuffled over the files, so every zone-hour and every device-day is spread
    over several partitions (and exact duplicate rows land in different files).
    """
    root = tmp_path_factory.mktemp("dask")
    sim = simulate(zones, "2020-09-10", "2020-11-20", root / "sim", seed=11, devices=300)
    table = pq.read_table(sim.pings, partitioning=None)
    table = table.take(np.random.default_rng(0).permutation(table.num_rows))
    shuffled = root / "shuffled"
    shuffled.mkdir()
    for i, part in enumerate(np.array_split(np.arange(table.num_rows), 5)):
        chunk = table.take(part)
        if i == 4:  # CSV too: epoch milliseconds as text
            ms = chunk.column("timestamp").cast(pa.int64())
            pcsv.write_csv(chunk.set_column(1, "timestamp", ms), shuffled / f"part-{i}.csv")
        else:
            pq.write_table(chunk, shuffled / f"part-{i}.parquet", row_group_size=4000)
    return shuffled


@pytest.fixture(scope="module")
def local(pings, zones):
    return ff.count_passages(pings, zones, engine="local")


@pytest.fixture(scope="module")
def client():
    with local_cluster(2) as cluster, Client(cluster) as c:
        yield c


def assert_same_count(dask_result, local_result):
    """Hourly and panel tables equal row for row, and the same row accounting."""
    pd.testing.assert_frame_equal(dask_result, local_result)
    pd.testing.assert_frame_equal(read_panel(dask_result), read_panel(local_result))
    accounting = [r.attrs["manifest"]["accounting"] for r in (dask_result, local_result)]
    assert accounting[0] == accounting[1]
    assert_same_replicates(dask_result, local_result)


def assert_same_replicates(dask_result, local_result):
    """The replicate tables of the intervals (issue 16): the same groups, row for row."""
    reps = [ff.read_replicates(r) for r in (dask_result, local_result)]
    if reps[1] is None:
        assert reps[0] is None
        return
    assert reps[0].groups == reps[1].groups
    # each run draws its own secret, so devices fall in other groups: the tables agree
    # summed over the groups (per zone-day, per day), and both split the same totals
    for name, keys in (("visits", ["zone_id", "day"]), ("panel", ["day"])):
        a, b = (getattr(r, name).groupby(keys).sum(numeric_only=True).drop(columns="group")
                for r in reps)  # fmt: skip
        pd.testing.assert_frame_equal(a, b)


def test_local_cluster_of_two_processes_equals_local(client, pings, zones, local):
    assert len(client.scheduler_info()["workers"]) == 2
    result = ff.count_passages(pings, zones, engine="dask", client=client)
    assert_same_count(result, local)
    assert result.attrs["manifest"]["parameters"]["engine"] == "dask"
    # the input really spans months and the repeated autumn hour
    hours = result["hour"]
    assert hours.dt.month.nunique() == 3
    assert (hours.dt.strftime("%Y-%m-%d %H%z") == "2020-10-25 02+0100").any()
    assert (hours.dt.strftime("%Y-%m-%d %H%z") == "2020-10-25 02+0200").any()


def test_dask_replicate_tables_equal_local(client, pings, zones, local):
    result = ff.count_passages(pings, zones, engine="dask", client=client)
    reps = ff.read_replicates(result)
    assert reps is not None and len(reps.visits) > 0
    assert_same_replicates(result, local)
    # summed over the groups: the exact daily passages and the panel
    assert reps.visits["passages"].sum() == ff.read_replicates(local).visits["passages"].sum()
    assert reps.panel["active_devices"].sum() == read_panel(result)["active_devices"].sum()


def test_index_shipped_once_and_no_data_between_workers(client, pings, zones):
    """One scattered index serves every map task; partials travel through the checkpoints."""

    def finished(dask_scheduler):  # tasks that reached memory, by key prefix (cumulative)
        return {k: v.state_counts["memory"] for k, v in dask_scheduler.task_prefixes.items()}

    def transfers():
        counts = client.run(lambda dask_worker: dask_worker.state.transfer_incoming_count_total)
        return sum(counts.values())

    before, moved = client.run_on_scheduler(finished), transfers()
    ff.count_passages(pings, zones, engine="dask", client=client)
    after = client.run_on_scheduler(finished)
    new = {k: n - before.get(k, 0) for k, n in after.items() if n > before.get(k, 0)}
    assert new.pop("ZoneIndex") == 1
    assert new == {"list_file": 5, "map_fragment": 5, "reduce_slices": new["reduce_slices"],
                   "replicate_sums": 1}  # fmt: skip
    assert transfers() == moved  # no task fetched data from another worker


def test_exact_against_brute_force(client, pings, zones):
    """Distinct devices per zone-hour and per day, from every row at once (pandas)."""
    result = ff.count_passages(pings, zones, engine="dask", client=client)
    rows = ff.read_pings(pings)
    rows = rows[rows["reason"] == ""]
    rows["zone"] = ff.ZoneIndex(zones).assign(rows["lon"].to_numpy(), rows["lat"].to_numpy())
    # a local hour is a UTC hour (whole-hour offsets), and the UTC hour names the repeated one
    inside = rows[rows["zone"] >= 0].assign(hour=rows["timestamp"].dt.floor("h"))
    brute = (
        inside.groupby(["zone", "hour"])
        .agg(passages=("device", "nunique"), pings=("device", "size"))
        .reset_index()
    )
    brute["zone_id"] = np.asarray(zones.zone_ids, dtype=object)[brute["zone"]]
    assert_hourly_equal(result, brute)
    assert result["passages"].sum() < result["pings"].sum()  # devices ping several times
    days = rows["timestamp"].dt.tz_convert("Europe/Paris").dt.tz_localize(None).dt.normalize()
    active = rows.groupby(days)["device"].nunique()
    panel = read_panel(result).set_index("day")["active_devices"]
    pd.testing.assert_series_equal(panel, active, check_names=False, check_index_type=False)


def test_outputs_and_manifest_on_disk(client, pings, zones, local, tmp_path):
    out = tmp_path / "hourly.parquet"
    ff.count_passages(pings, zones, engine="dask", client=client, out=out)
    assert_hourly_equal(read_hourly(out), local, check_panel=True)
    manifest = read_manifest(beside(out, "manifest", "json"))
    assert manifest["accounting"] == local.attrs["manifest"]["accounting"]
    assert sorted(Path(i["path"]).name for i in manifest["inputs"]) == sorted(
        p.name for p in pings.iterdir()
    )
    quarantine = pq.read_table(beside(out, "quarantine")).to_pandas()
    assert len(quarantine) == manifest["accounting"]["rows_quarantined"] > 0
    assert not beside(out, "checkpoints", "").exists()


def test_resumes_from_local_checkpoints(client, pings, zones, local, tmp_path):
    """A run cut short under the local engine resumes under Dask, reusing its checkpoints."""
    out = tmp_path / "hourly.parquet"
    out.mkdir()  # the final write fails, after every fragment is checkpointed
    with pytest.raises(OSError):
        ff.count_passages(pings, zones, out=out)
    out.rmdir()
    (workdir,) = beside(out, "checkpoints", "").iterdir()
    checkpoints = sorted(workdir.glob("*.ckpt"))  # beside the run's secret
    assert len(checkpoints) == 5
    checkpoints[0].unlink()  # this one was not finished: it is mapped again
    # Mark a finished one: pings doubled there show that it is reused, not recomputed.

    def double_pings(part):
        part.visit_pings *= 2

    rewrite_checkpoint(checkpoints[1], double_pings)
    resumed = ff.count_passages(pings, zones, engine="dask", client=client, out=out)
    assert resumed["passages"].equals(local["passages"])
    extra = resumed["pings"] - local["pings"]
    assert (extra >= 0).all() and 0 < extra.sum() < local["pings"].sum()
    assert not beside(out, "checkpoints", "").exists()
    again = ff.count_passages(pings, zones, engine="dask", client=client, out=out)
    assert_same_count(again, local)


def test_killed_dask_run_resumes(client, pings, zones, zone_file, tmp_path):
    """``footfall count --scheduler`` killed mid-run resumes from its checkpoints."""
    days = pings.parent / "sim"  # one file per day: 72 fragments
    out = tmp_path / "hourly.parquet"
    args = [FOOTFALL, "count", str(days), "--zones", str(zone_file), "--out", str(out),
            "--scheduler", client.scheduler.address, "-q"]  # fmt: skip
    proc = subprocess.Popen(args)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list(tmp_path.glob("hourly.checkpoints/*/*.ckpt"))) >= 5:
            proc.kill()
            break
        time.sleep(0.002)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not out.exists()
    resumed = ff.count_passages(days, zones, engine="dask", client=client, out=out)
    assert_same_count(resumed, ff.count_passages(days, zones))
    assert not beside(out, "checkpoints", "").exists()


def test_a_fragment_mapped_twice_keeps_one_checkpoint(zones, tmp_path):
    """A task of a killed client, or one Dask ran twice, may finish after the new run's."""
    from footfall.count import CountSpec, map_batch
    from footfall.count._checkpoint import _save_partial

    pings = pa.table({"device_id": [1, 2, 1], "timestamp": [1_600_000_000] * 3,
                      "lat": [45.0, 0.0, 45.0], "lon": [4.0, 0.0, 4.0]})  # fmt: skip
    part = map_batch(pings, ff.ZoneIndex(zones), CountSpec())
    directory = tmp_path / "000000-fragment"
    first = _save_partial(part, directory, {"path": "p", "key": "k"})
    assert _save_partial(part, directory, {"path": "p", "key": "k"}) == first
    assert [p.name for p in tmp_path.iterdir()] == [directory.name]  # no temporary left


def test_bad_files_skipped_or_named(client, pings, zones, tmp_path):
    inputs = tmp_path / "inputs"
    shutil.copytree(pings, inputs)
    (inputs / "part-9.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(InputError, match=r"part-9\.parquet: unreadable ping file"):
        ff.count_passages(inputs, zones, engine="dask", client=client)
    skipped = ff.count_passages(inputs, zones, engine="dask", client=client, skip_bad_files=True)
    local = ff.count_passages(inputs, zones, skip_bad_files=True)
    assert_same_count(skipped, local)
    (bad,) = skipped.attrs["manifest"]["skipped_files"]
    assert bad["path"].endswith("part-9.parquet")
    pq.write_table(pa.table({"device_id": [1], "lat": [45.0]}), inputs / "part-9.parquet")
    with pytest.raises(InputError, match=r"part-9\.parquet: no time column"):
        ff.count_passages(inputs, zones, engine="dask", client=client)


def test_file_failing_while_mapped_is_skipped_whole(client, pings, zones, tmp_path):
    """A file whose footer reads but whose pages do not fails in the map step, on a worker."""
    inputs = tmp_path / "inputs"
    shutil.copytree(pings, inputs)
    data = bytearray((inputs / "part-0.parquet").read_bytes())
    data[4:40] = b"\xff" * 36  # the first page header
    (inputs / "part-0.parquet").write_bytes(data)
    with pytest.raises(InputError, match=r"part-0\.parquet: unreadable ping file"):
        ff.count_passages(inputs, zones, engine="dask", client=client)
    skipped = ff.count_passages(inputs, zones, engine="dask", client=client, skip_bad_files=True)
    (bad,) = skipped.attrs["manifest"]["skipped_files"]
    assert bad["path"].endswith("part-0.parquet") and "page header" in bad["error"]
    (inputs / "part-0.parquet").unlink()
    assert_same_count(skipped, ff.count_passages(inputs, zones))  # none of its rows counted


def test_fsspec_urls_read_on_the_workers(client, pings, zones, local):
    """fsspec URLs (``file://`` here; ``s3://``, ``gs://`` alike) give the same count."""
    url = f"file://{pings}"
    for source in (url, f"{url}/*.parquet"):
        result = ff.count_passages(source, zones, engine="dask", client=client)
        if source == url:
            assert_same_count(result, local)
            paths = [i["path"] for i in result.attrs["manifest"]["inputs"]]
            assert paths == sorted(f"{url}/{p.name}" for p in pings.iterdir())
        else:  # the glob leaves the CSV part out
            assert 0 < result["pings"].sum() < local["pings"].sum()
            assert result.equals(ff.count_passages(source, zones))


@pytest.mark.parametrize(
    ("url", "message"),
    [("nosuchfs://bucket/pings", "cannot read this URL"), ("file:///no/such/dir", "no such file")],
)
def test_bad_urls_are_named(url, message, zones):
    with pytest.raises(InputError, match=f"{url}: {message}"):
        ff.count_passages(url, zones, engine="dask")


def test_refuses_a_bad_client_and_a_dataframe(pings, zones):
    with pytest.raises(InputError, match="`client` was 42"):
        ff.count_passages(pings, zones, engine="dask", client=42)
    frame = pq.read_table(pings / "part-0.parquet").to_pandas()
    with pytest.raises(InputError, match="count a DataFrame with engine='local'"):
        ff.count_passages(frame, zones, engine="dask")


def test_cli_engine_dask_starts_a_local_cluster(pings, zone_file, local, tmp_path):
    out = tmp_path / "hourly.parquet"
    args = ["count", str(pings), "--zones", str(zone_file), "--out", str(out)]
    result = CliRunner().invoke(cli, [*args, "--engine", "dask", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert_hourly_equal(read_hourly(out), local, check_panel=True)
    assert read_hourly(out).attrs["manifest"]["parameters"]["engine"] == "dask"


def test_cli_unreachable_scheduler_is_one_line(pings, tmp_path):
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        result = CliRunner().invoke(
            cli,
            ["count", str(pings), "--zones", str(ZONES_DIR / "01053-bourg-en-bresse.geojson"),
             "--out", str(tmp_path / "h.parquet"), "--scheduler", "tcp://127.0.0.1:9"],
        )  # fmt: skip
    assert result.exit_code == 1
    assert "cannot connect to the scheduler at 'tcp://127.0.0.1:9'" in result.output
    assert "Traceback" not in result.output


def test_a_scheduler_without_workers_is_an_error_not_a_hang(pings, zones):
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        local_cluster(n_workers=0) as empty,
        Client(empty) as client,
    ):
        with pytest.raises(InputError, match="cannot connect to the scheduler at .* workers"):
            ff.count_passages(pings, zones, engine="dask", client=client)


def _stop(proc: subprocess.Popen) -> None:
    """Stop a process group: SIGTERM, then SIGKILL if it lingers."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture()
def dask_cli_cluster(tmp_path):
    """A real ``dask scheduler`` and ``dask worker`` (2 processes) on 127.0.0.1, free ports."""
    file = tmp_path / "scheduler.json"
    common = {"cwd": tmp_path, "start_new_session": True, "stdout": subprocess.DEVNULL,
              "stderr": subprocess.STDOUT}  # fmt: skip
    procs = [
        subprocess.Popen(
            [
                DASK_BIN,
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                file,
            ],
            **common,
        )  # fmt: skip
    ]
    try:
        deadline = time.monotonic() + 60
        while not file.exists() or not file.read_text().strip():
            assert procs[0].poll() is None, "dask scheduler exited"
            assert time.monotonic() < deadline, "dask scheduler did not start"
            time.sleep(0.2)
        procs.append(
            subprocess.Popen(
                [
                    DASK_BIN,
                    "worker",
                    "--scheduler-file",
                    file,
                    "--host",
                    "127.0.0.1",
                    "--nworkers",
                    "2",
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                    "--death-timeout",
                    "30",
                    "--local-directory",
                    tmp_path / "work",
                ],
                **common,
            )  # fmt: skip
        )
        with Client(scheduler_file=str(file), timeout=30) as c:
            c.wait_for_workers(2, timeout=60)
            yield json.loads(file.read_text())["address"]
    finally:
        for proc in reversed(procs):
            _stop(proc)


def test_cli_on_dask_scheduler_and_workers_equals_local(
    dask_cli_cluster, pings, zone_file, local, tmp_path
):
    assert dask_cli_cluster.startswith("tcp://127.0.0.1:")
    out = tmp_path / "hourly.parquet"
    result = CliRunner().invoke(
        cli,
        ["count", str(pings), "--zones", str(zone_file), "--out", str(out),
         "--scheduler", dask_cli_cluster],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"{len(local):,} zone-hours written" in result.output
    hourly = read_hourly(out)
    assert_hourly_equal(hourly, local, check_panel=True)
    manifest = hourly.attrs["manifest"]
    assert manifest["accounting"] == local.attrs["manifest"]["accounting"]
    assert manifest["parameters"]["engine"] == "dask"


@pytest.mark.skipif(not any(ZONES_DIR.glob("*.geojson")), reason="no zone set in zones/")
def test_bench_section_reports_dask_scaling():
    from footfall.bench import format_report, run_bench

    result = run_bench(ZONES_DIR, points=3000, repeat=1, sections=["dask"])
    rows = {r["method"]: r for r in result["rows"]}
    assert list(rows) == ["local engine", "dask 1 worker", "dask 2 workers"]
    assert all(r["mismatches"] == 0 and r["points"] == 3000 for r in rows.values())
    assert rows["dask 1 worker"]["scaling_efficiency"] == 1.0
    two = rows["dask 2 workers"]
    assert two["workers"] == 2 and two["scaling_efficiency"] > 0 and two["peak_rss_mb"] > 0
    assert "dask 2 workers" in format_report(result)
