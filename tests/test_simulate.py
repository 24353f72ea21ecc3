"""The panel simulator: deterministic, DST-exact, and its truth is what the method measures."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import footfall as ff
from footfall.cli import cli
from footfall.simulation import calendar, read_truth, simulate
from footfall.testing import assert_hourly_equal
from footfall.zones import ZoneSet
from test_hourly import brute_force, small_zones


@pytest.fixture(scope="module")
def zones3() -> ZoneSet:
    return ZoneSet(small_zones().gdf.iloc[:3])


@pytest.fixture(scope="module")
def spring(zones3, tmp_path_factory):
    out = tmp_path_factory.mktemp("spring") / "pings"
    sim = simulate(zones3, "2020-01-01", "2020-04-30", out, seed=5, devices=1500, drift=0.6)
    return sim, ff.count_passages(sim.pings, zones3)


def _digest(directory) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*.parquet"))
    }


def test_same_seed_same_files_whatever_the_threads(zones3, tmp_path):
    a = simulate(zones3, "2020-10-24", "2020-10-26", tmp_path / "a", seed=1, devices=800, workers=1)
    b = simulate(zones3, "2020-10-24", "2020-10-26", tmp_path / "b", seed=1, devices=800, workers=2)
    c = simulate(zones3, "2020-10-24", "2020-10-26", tmp_path / "c", seed=2, devices=800)
    assert _digest(a.pings) == _digest(b.pings) != _digest(c.pings)
    assert sorted(p.name for p in a.pings.iterdir()) == [
        "_manifest.json", "_truth_days.parquet", "_truth_zones.parquet",
        "day=2020-10-24", "day=2020-10-25", "day=2020-10-26",
    ]  # fmt: skip
    table = pq.read_table(a.pings / "day=2020-10-25" / "part-0.parquet")
    assert table.schema.names == ["device_id", "timestamp", "lat", "lon", "accuracy_m"]
    assert table.num_rows == a.truth_days["rows"].iloc[1]
    manifest = json.loads((a.pings / "_manifest.json").read_text())
    assert [i["path"] for i in manifest["inputs"]] == [str(f) for f in zones3.sources]
    assert all(len(i["blake3"]) == 64 for i in manifest["inputs"])
    assert manifest["zones"]["hash"] == zones3.hash and manifest["outputs"]["rows"] == a.rows
    truth = read_truth(a.pings)
    pd.testing.assert_frame_equal(truth.truth_zones, a.truth_zones)
    assert truth.meta == a.meta and truth.rows == a.rows


def test_dst_days_and_curfew_shape_the_hours(zones3, tmp_path):
    sim = simulate(zones3, "2021-03-27", "2021-03-28", tmp_path / "p", seed=0, devices=600)
    hourly = ff.count_passages(sim.pings, zones3)
    local = hourly["hour"].dt.tz_localize(None)
    per_day = local.dt.normalize().groupby(local.dt.normalize()).size() / len(zones3)
    assert per_day.max() <= 24
    sunday = hourly[local.dt.normalize() == pd.Timestamp("2021-03-28")]
    assert 2 not in set(sunday["hour"].dt.hour)  # 02:00 does not exist that day
    # 18:00 curfew from 16 January 2021: evenings are nearly empty
    evening = hourly[local.dt.hour.between(18, 23)]["passages"].sum()
    afternoon = hourly[local.dt.hour.between(12, 17)]["passages"].sum()
    assert evening < 0.1 * afternoon


def test_flat_api_simulate_is_callable_after_the_module_is_imported(zones3, tmp_path):
    import footfall.simulation  # noqa: F401 - must not shadow the flat name

    sim = ff.simulate(zones3, "2020-06-01", "2020-06-01", tmp_path / "p", devices=200)
    assert sim.rows > 0 and (tmp_path / "p" / "day=2020-06-01" / "part-0.parquet").exists()


@pytest.mark.parametrize("days", [("2020-03-28", "2020-03-30"), ("2020-10-24", "2020-10-26")])
def test_count_of_simulated_pings_equals_brute_force_across_dst(zones3, tmp_path, days):
    sim = simulate(zones3, *days, tmp_path / "p", seed=4, devices=700)
    raw = pd.read_parquet(sim.pings).dropna(subset=["device_id", "timestamp"])
    epoch_s = (raw["timestamp"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    raw = raw.assign(timestamp=epoch_s)
    assert_hourly_equal(ff.count_passages(sim.pings, zones3), brute_force(raw, zones3))


def test_calendar_of_2020_21():
    days = pd.to_datetime(["2020-02-01", "2020-04-01", "2020-11-15", "2020-12-01",
                           "2020-12-20", "2021-01-20"])  # fmt: skip
    level, curfew = calendar(days)
    assert level[0] == 1 and level[1] < 0.3 and level[2] < level[3]
    assert list(curfew) == [0, 0, 0, 0, 20, 18]


def test_counts_recover_the_planted_truth(spring):
    sim, hourly = spring
    truth = sim.truth_zones.set_index("zone_id")
    assert hourly.groupby("zone_id")["passages"].sum().to_dict() == truth["passages"].to_dict()
    panel = ff.read_panel(hourly).set_index("day")["active_devices"]
    assert panel.tolist() == sim.truth_days["active_devices"].tolist()
    acc = hourly.attrs["manifest"]["accounting"]
    assert acc["rows_read"] == sim.rows
    kinds = {k for k, v in acc["quarantined"].items() if v}
    assert kinds == {"nan_coordinates", "out_of_range", "null_island", "null_timestamp",
                     "implausible_timestamp", "null_device"}  # fmt: skip
    assert acc["rows_in_zone"] > hourly["passages"].sum()  # several pings per visit
    # the panel drifts (+60 %/year) and has a weekly rhythm
    assert panel.iloc[-7:].mean() > 1.15 * panel.iloc[:7].mean()
    assert panel.groupby(panel.index.day_of_week).mean().idxmin() == 6


def test_normalised_resilience_is_the_truth_and_raw_is_biased(spring):
    sim, hourly = spring
    meta = sim.meta
    assert meta["windows"] == {
        "baseline": ["2020-01-01", "2020-03-15"],
        "crisis": ["2020-03-16", "2020-04-30"],
        "ranking": ["2020-03-01", "2020-04-30"],
    }
    day = hourly["hour"].dt.tz_localize(None).dt.normalize()
    daily = hourly.groupby([day, "zone_id"])["passages"].sum().unstack(fill_value=0)
    active = ff.read_panel(hourly).set_index("day")["active_devices"]
    daily = daily.reindex(active.index, fill_value=0)
    base = (active.index >= "2020-01-01") & (active.index <= "2020-03-15")
    crisis = active.index >= "2020-03-16"
    reference = active[base].mean()
    assert reference == pytest.approx(meta["reference_active_devices"])
    norm = daily.mul(reference / active, axis=0)
    truth = sim.truth_zones.set_index("zone_id")
    measured = norm[crisis].mean() / norm[base].mean()
    np.testing.assert_allclose(measured, truth["resilience"], atol=0.015)
    raw = daily[crisis].mean() / daily[base].mean()
    assert ((raw - truth["resilience"]) > 0.03).all()
    ranking = active.index >= "2020-03-01"
    monthly = norm[ranking].mean() * 365.25 / 12
    np.testing.assert_allclose(monthly, truth["monthly_passages"], rtol=0.02)
    assert (truth["resilience"] < 0.9).all() and (truth["resilience"] > 0.2).all()


def test_cli_simulate_and_bad_options(tmp_path, zones3):
    path = tmp_path / "zones.geojson"
    zones3.gdf.drop(columns="source", errors="ignore").to_file(path, driver="GeoJSON")
    runner = CliRunner()
    args = ["simulate", "--zones", str(path), "--start", "2020-06-01", "--end", "2020-06-02",
            "--out", str(tmp_path / "p"), "--devices", "300", "--scale", "0.2"]  # fmt: skip
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "pings over 2 days and 3 zones" in result.output
    result = runner.invoke(cli, [*args[:4], "2020-06-05", *args[5:]])
    assert result.exit_code != 0 and "before start" in result.output
    assert "Traceback" not in result.output
