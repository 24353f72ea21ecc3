"""Planted-truth recovery: simulate pings with panel drift, count, rank, compare."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import footfall as ff
from footfall.cli import cli
from footfall.ranking import COLUMNS
from footfall.simulation import read_truth, simulate
from footfall.zones import ZoneSet

ZONES_DIR = Path(__file__).resolve().parents[1] / "zones"

PERIOD = ("2020-03-01", None)  # the simulation ends in May: rank over March-May


def zone_subset(ids):
    zones = ff.read_zones(ZONES_DIR)
    return ZoneSet(zones.gdf[zones.gdf["zone_id"].isin(ids)])


@pytest.fixture(scope="module")
def zones():
    # 16 real towns: eligible ones across regions, and some Île-de-France,
    # overseas and métropole-continuity towns the filters must drop.
    gdf = ff.read_zones(ZONES_DIR).gdf
    eligible = ff.eligibility(ZoneSet(gdf))["eligible"]
    picks = list(gdf.loc[eligible.to_numpy(), "zone_id"].iloc[::12][:12])
    picks += list(gdf.loc[~eligible.to_numpy(), "zone_id"].iloc[::60][:4])
    return zone_subset(picks)


@pytest.fixture(scope="module")
def simulated(zones, tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    sim = simulate(
        zones, "2020-01-01", "2020-05-31", out / "pings", seed=7, devices=3000, drift=0.5
    )
    hourly = ff.count_passages(sim.pings, zones, out=out / "hourly.parquet")
    # the counted zone set, for the CLI (rank refuses any other set)
    zones.gdf.drop(columns="source").to_file(out / "zones.geojson", driver="GeoJSON")
    return sim, hourly, out


def test_recovers_planted_resilience_and_ranking(zones, simulated):
    sim, hourly, _ = simulated
    truth = sim.truth_zones.set_index("zone_id")
    result = ff.palmares(hourly, zones, period=PERIOD, top=None)
    scores = result.scores
    error = (scores["resilience"] - truth["resilience"]).abs()
    assert error.notna().all()
    assert error.max() < 0.015, error.sort_values().tail()
    ranked = result.table.set_index("zone_id")
    assert len(ranked) == 12 and len(result.excluded) == 4
    planted = truth.loc[ranked.index, "monthly_passages"]
    rho = ranked["monthly_passages"].rank().corr(planted.rank())  # Spearman
    assert rho >= 0.97
    np.testing.assert_allclose(ranked["monthly_passages"], planted, rtol=0.02)


def test_without_normalisation_resilience_is_biased(zones, simulated):
    sim, hourly, _ = simulated
    truth = sim.truth_zones.set_index("zone_id")["resilience"]
    norm = ff.palmares(hourly, zones, period=PERIOD, top=None).scores["resilience"]
    raw = ff.palmares(hourly, zones, period=PERIOD, top=None, normalise=False).scores
    bias = raw["resilience"] - truth
    # the panel grows by 50 % a year: raw passages inflate the crisis months
    assert (bias > 0.015).all(), bias
    assert bias.mean() > 4 * (norm - truth).abs().max()


def test_same_result_from_the_parquet_path(zones, simulated):
    _, hourly, out = simulated
    from_df = ff.rank(hourly, zones, period=PERIOD)
    from_path = ff.rank(out / "hourly.parquet", zones, period=PERIOD)
    pd.testing.assert_frame_equal(from_df, from_path)


def test_cli_rank_writes_csv_markdown_and_prints(zones, simulated, tmp_path):
    _, hourly, out = simulated
    zone_file = tmp_path / "zones.geojson"
    zones.gdf.drop(columns="source").to_file(zone_file, driver="GeoJSON")
    csv, md = tmp_path / "palmares.csv", tmp_path / "palmares.md"
    args = ["rank", str(out / "hourly.parquet"), "--zones", str(zone_file), "--out", str(csv)]
    result = CliRunner().invoke(
        cli, [*args, "--markdown", str(md), "--top", "5", "--period", "2020-03-01:"]
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(csv, dtype={"insee": str, "zone_id": str})
    assert list(table.columns) == COLUMNS
    assert table["rank"].tolist() == [1, 2, 3, 4, 5]
    expected = ff.rank(hourly, zones, period=PERIOD, top=5)
    np.testing.assert_allclose(table["resilience"], expected["resilience"], atol=1e-4)
    assert table.loc[0, "name"] in result.output
    assert "Mean resilience of these 5 towns" in result.output
    assert md.read_text().startswith("| # | town | region |")
    manifest = json.loads((tmp_path / "palmares.manifest.json").read_text())
    assert manifest["command"] == "rank"
    assert manifest["inputs"][0]["size"] == (out / "hourly.parquet").stat().st_size
    assert manifest["parameters"]["top"] == 5
    assert manifest["upstream"]["command"] == "count"
    # privacy: no device identifier (13-digit integers in the simulation) in any output
    devices = pd.read_parquet(out / "pings", columns=["device_id"])["device_id"].unique()
    texts = csv.read_text() + md.read_text() + result.output
    assert not set(re.findall(r"\d{13}", texts)) & {str(d) for d in devices}


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--period", "2020-03-01"], "is not FIRST:LAST"),
        (["--baseline", "2020-13-01:"], "not a date"),
        (["--crisis", "2020-05-01:2020-04-01"], "ends before it starts"),
        (["--expand", "lots"], "'lots' is neither a number nor 'population'"),
        ([], "ranking period 2020-03-01..2021-01-31: data on 27%"),
    ],
)
def test_cli_rank_bad_input_is_one_line(simulated, extra, message):
    _, _, out = simulated
    csv = str(out / "never.csv")
    args = [
        "rank",
        str(out / "hourly.parquet"),
        "--zones",
        str(out / "zones.geojson"),
        "--out",
        csv,
        *extra,
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_cli_rank_without_panel_says_how(simulated, tmp_path):
    _, hourly, _ = simulated
    lone = tmp_path / "lone.parquet"
    bare = hourly.copy()
    bare.attrs = {}
    ff.write_hourly(bare, lone)  # no panel beside it
    args = ["rank", str(lone), "--zones", str(ZONES_DIR), "--period", "2020-03-01:", "--out"]
    args.append(str(tmp_path / "p.csv"))
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "--no-normalise" in result.output
    result = CliRunner().invoke(cli, [*args, "--no-normalise", "-q"])
    assert result.exit_code == 0, result.output
    assert result.output == ""


def test_cli_rank_expansion(zones, simulated, tmp_path):
    _, hourly, out = simulated
    args = ["rank", str(out / "hourly.parquet"), "--zones", str(out / "zones.geojson"), "-q"]
    args += ["--period", "2020-03-01:", "--top", "3", "--out"]
    tables = {}
    for expand in ("2.5", "population", None):
        csv = tmp_path / f"{expand}.csv"
        extra = [] if expand is None else ["--expand", expand]
        result = CliRunner().invoke(cli, [*args, str(csv), *extra])
        assert result.exit_code == 0, result.output
        tables[expand] = pd.read_csv(csv)
    plain = tables[None]["monthly_passages"]
    # the CSV rounds passages to 0.1
    np.testing.assert_allclose(tables["2.5"]["monthly_passages"], 2.5 * plain, atol=0.3)
    reference = ff.read_panel(hourly).set_index("day").loc[:"2020-03-15", "active_devices"].mean()
    factor = ff.indicators.FRANCE_POPULATION / reference
    np.testing.assert_allclose(tables["population"]["monthly_passages"], factor * plain, rtol=1e-4)
    pd.testing.assert_series_equal(tables["population"]["resilience"], tables[None]["resilience"])


def test_tourist_towns_told_from_a_full_pre_crisis_year(tmp_path):
    ids = ["06004-centre", "11069-centre", "12202-centre", "17300-centre", "30007-centre",
           "40088-centre", "56260-centre", "64102-centre"]  # fmt: skip
    zones = zone_subset(ids)
    sim = simulate(
        zones, "2019-01-01", "2020-03-20", tmp_path / "pings", seed=3, devices=800,
        tourist_share=0.5,
    )  # fmt: skip
    hourly = ff.count_passages(sim.pings, zones)
    result = ff.palmares(hourly, zones, period=("2020-03-01", None), top=None)
    planted = read_truth(tmp_path / "pings").truth_zones.set_index("zone_id")["tourist"]
    assert planted.any() and not planted.all()
    told = result.scores["tourist"] == "yes"
    pd.testing.assert_series_equal(told, planted.reindex(told.index), check_names=False)
    assert set(result.excluded["zone_id"]) >= set(planted[planted].index)
