"""``footfall drivers``: the palmarès beside town indicators, on a planted hourly table."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import footfall as ff
from footfall._spearman import _ranks, _sample_ranks, spearman
from footfall.cli import cli
from footfall.radiography import COLUMNS
from footfall.tables import attach_panel
from footfall.zones import ZoneSet

ZONES_DIR = Path(__file__).resolve().parents[1] / "zones"


@pytest.fixture(scope="module")
def zones():
    # 40 eligible real towns across regions (Bourg-en-Bresse: an insee with a leading
    # zero) and 3 the filters drop.
    gdf = ff.read_zones(ZONES_DIR).gdf
    eligible = ff.eligibility(ZoneSet(gdf))["eligible"].to_numpy()
    picks = ["01053-centre", *gdf.loc[eligible, "zone_id"].iloc[1::4][:40]]
    picks += list(gdf.loc[~eligible, "zone_id"].iloc[::80][:3])
    return ZoneSet(gdf[gdf["zone_id"].isin(picks)])


@pytest.fixture(scope="module")
def hourly(zones):
    """An hourly table shaped like count_passages' (noon and 6 pm rows), planted levels.

    Each town has a base flow and a resilience; its level follows a common 2020 profile
    (first lockdown, summer, second lockdown) scaled by the resilience. The panel drifts
    by 30 %, so the figures only come out right when normalised.
    """
    rng = np.random.default_rng(17)
    days = pd.date_range("2020-01-01", "2021-01-31", freq="D")
    crisis = days >= "2020-03-16"
    profile = np.ones(len(days))
    profile[(days >= "2020-03-17") & (days < "2020-05-11")] = 0.35
    profile[(days >= "2020-07-01") & (days < "2020-09-01")] = 1.25
    profile[(days >= "2020-10-30") & (days < "2020-12-15")] = 0.6
    profile[crisis] /= profile[crisis].mean()
    panel = 1000 * (1 + 0.3 * np.arange(len(days)) / len(days))
    frames = []
    for zone_id in zones.zone_ids:
        base, res = rng.lognormal(5, 0.6), rng.uniform(0.5, 1.05)
        level = np.where(crisis, res * profile, 1.0) * base * panel / 1000
        for hour, share in ((12, 0.6), (18, 0.4)):
            passages = rng.poisson(level * share * 20)
            stamps = (days + pd.Timedelta(hours=hour)).tz_localize("Europe/Paris")
            frames.append(
                pd.DataFrame(
                    {"zone_id": zone_id, "hour": stamps, "passages": passages, "pings": passages}
                )
            )
    table = pd.concat(frames, ignore_index=True).astype({"passages": "int64", "pings": "int64"})
    return attach_panel(table, pd.DataFrame({"day": days, "active_devices": panel.round()}))


@pytest.fixture(scope="module")
def pal(hourly, zones):
    return ff.palmares(hourly, zones, top=10)


@pytest.fixture(scope="module")
def indicators_csv(pal, tmp_path_factory):
    """The user's CSV: planted = resilience + small noise, a pure-noise one, a category."""
    rng = np.random.default_rng(5)
    towns = pal.scores[pal.scores["eligible"]]
    n = len(towns)
    frame = pd.DataFrame(
        {
            "insee": towns["insee"].to_numpy(),
            "planted": (towns["resilience"].to_numpy() + rng.normal(0, 0.03, n)).round(4),
            "noise": rng.normal(0, 1, n).round(4),
            "mayor_party": rng.choice(["DVD", "DVG", "LR", "PS"], n),
        }
    ).astype(str)
    frame.loc[3, "noise"] = "n/a"  # one bad value among good ones
    frame.loc[4, "noise"] = "abc"
    frame.loc[5, "mayor_party"] = ""  # one missing category
    frame.loc[len(frame)] = ["99999", "0.5", "0.1", "PS"]  # a town not in the palmarès
    path = tmp_path_factory.mktemp("ind") / "towns.csv"
    frame.to_csv(path, index=False)
    return path


def test_ranks_average_ties_like_pandas():
    values = np.array([[3.0, 1.0, 3.0, 2.0, 1.0, 3.0], [5.0, 4.0, 3.0, 2.0, 1.0, 0.0]])
    expected = pd.DataFrame(values.T).rank().to_numpy().T
    np.testing.assert_array_equal(_ranks(values), expected)


def test_sample_ranks_by_counting_equal_sorted_ranks():
    rng = np.random.default_rng(1)
    values = rng.integers(0, 7, 50).astype(float)  # many ties, as bootstrap samples have
    idx = rng.integers(0, 50, size=(30, 50))
    np.testing.assert_allclose(_sample_ranks(values, idx), _ranks(values[idx]))


def test_spearman_matches_pandas_and_interval_is_reproducible():
    rng = np.random.default_rng(0)
    x = rng.normal(size=60)
    y = x + rng.normal(size=60)
    rho, low, high = spearman(x, y, n_boot=500, seed=3)
    assert rho == pytest.approx(pd.Series(x).rank().corr(pd.Series(y).rank()))  # Spearman
    assert low < rho < high
    assert spearman(x, y, n_boot=500, seed=3) == (rho, low, high)


def test_planted_indicator_comes_first_for_resilience(pal, zones, indicators_csv):
    result = ff.drivers(pal, zones, indicators=indicators_csv)
    table = result.table
    assert list(table.columns) == COLUMNS
    res = result.strongest("resilience", 20)
    # the method figures share the resilience window: set them aside, as the note says
    own = res[~res["note"].str.contains("by construction")]
    assert own.iloc[0]["indicator"] == "planted", own
    planted = own.iloc[0]
    assert planted["rho_low"] > 0.5 and planted["rho"] > 0.8
    assert planted["n"] == len(result.towns) == int(pal.scores["eligible"].sum())
    assert planted["diff_low"] > 0  # the 10 most resilient have a higher planted value
    noise = table.set_index(["indicator", "target"]).loc[("noise", "resilience")]
    assert noise["rho_low"] < 0 < noise["rho_high"]
    assert noise["n"] == len(result.towns) - 2
    notes = " ".join(result.notes)
    assert "noise: 1 non-numeric value(s) left out ('abc')" in notes  # n/a: missing
    assert "noise: missing for 2 of" in notes
    assert "1 insee code(s) match no town used (first: 99999)" in notes
    assert "mayor_party: missing for 1 of" in notes
    assert result.indicators["mayor_party"] == "category"
    cats = result.categories
    party = cats[(cats["indicator"] == "mayor_party") & (cats["target"] == "resilience")]
    assert party["n"].sum() == len(result.towns) - 1 and set(party["category"]) <= {
        "DVD",
        "DVG",
        "LR",
        "PS",
    }


def test_builtins_for_every_eligible_town(pal, zones):
    result = ff.drivers(pal, zones, n_boot=200)
    towns = result.towns.set_index("zone_id")
    eligible = pal.scores.index[pal.scores["eligible"]]
    assert sorted(towns.index) == sorted(eligible)
    builtins = [
        "population",
        "density",
        "metro_distance_km",
        "zone_area_km2",
        "summer_rebound",
        "november_level",
        "december_level",
    ]
    assert towns[builtins].notna().all().all(), towns[builtins].isna().sum()
    assert towns["region"].notna().all()
    # a real figure: Bourg-en-Bresse, about 41,000 inhabitants on 24 km², Lyon 60 km away
    bourg = towns.loc["01053-centre"]
    assert bourg["insee"] == "01053"
    assert 1200 < bourg["density"] < 2200
    assert 45 < bourg["metro_distance_km"] < 75
    assert 0.05 < bourg["zone_area_km2"] < 5
    # the planted profile: summer above the baseline-scaled crisis mean, November below
    assert (towns["summer_rebound"] > towns["november_level"]).all()
    assert set(result.table["target"]) == {
        "monthly_passages",
        "resilience",
        "summer_rebound",
        "november_level",
        "december_level",
    }
    n = len(towns)
    assert f"All {n} eligible ranked towns are used, not only the top 10" in result.headline
    regions = result.categories[result.categories["indicator"] == "region"]
    assert regions.groupby("target")["n"].sum().eq(n).all()


def test_from_a_table_without_hourly_skips_method_figures(pal, zones, hourly):
    table = ff.palmares(hourly, zones, top=None).table
    result = ff.drivers(table, zones, n_boot=200)
    assert "summer_rebound" not in result.towns
    assert any("Method figures" in n and "skipped" in n for n in result.notes)
    with_hourly = ff.drivers(table, zones, hourly=hourly, n_boot=200)
    np.testing.assert_allclose(
        with_hourly.towns.set_index("zone_id")["summer_rebound"],
        ff.drivers(pal, zones, n_boot=200)
        .towns.set_index("zone_id")["summer_rebound"]
        .loc[with_hourly.towns["zone_id"]],
    )
    # only the top 10: the output says the correlations are cut by selection
    cut = ff.drivers(pal.table, zones, n_boot=200)
    assert any("cut by selection" in n for n in cut.notes)
    assert cut.headline.startswith("Only the 10 towns of the palmarès table are used, of about")


def test_cli_writes_csv_md_html(pal, zones, hourly, indicators_csv, tmp_path):
    palmares_csv = tmp_path / "palmares.csv"
    ff.palmares(hourly, zones, top=None).to_csv(palmares_csv)
    zones_dir = tmp_path / "zones"
    ff.write_zones(zones, zones_dir)
    runner = CliRunner()
    outputs = {}
    for suffix in ("csv", "md", "html"):
        out = tmp_path / f"drivers.{suffix}"
        args = ["drivers", str(palmares_csv), "--zones", str(zones_dir)]
        args += ["--indicators", str(indicators_csv), "--out", str(out), "--boot", "300"]
        run = runner.invoke(cli, args)
        assert run.exit_code == 0, run.output
        assert out.with_name(f"drivers.{suffix}.manifest.json").exists()
        outputs[suffix] = out
    table = pd.read_csv(outputs["csv"])
    assert list(table.columns[:6]) == ["indicator", "target", "n", "rho", "rho_low", "rho_high"]
    row = table.set_index(["indicator", "target"]).loc[("planted", "resilience")]
    n = int(pal.scores["eligible"].sum())
    assert row["rho_low"] > 0.5 and row["n"] == n
    assert table["note"].str.startswith(f"all {n} eligible ranked towns").all()
    cats = pd.read_csv(tmp_path / "drivers-categories.csv")
    assert {"mayor_party", "region"} == set(cats["indicator"])
    md = outputs["md"].read_text()
    assert f"All {n} eligible ranked towns are used, not only the top {n // 3}" in md
    page = outputs["html"].read_text()
    assert f"All {n} eligible ranked towns are used" in page
    assert len(re.findall(r'src="data:image/png;base64,', page)) >= 4
    assert "http://" not in page and "https://" not in page


def test_cli_bad_indicator_csv_is_one_clean_line(pal, zones, tmp_path):
    palmares_csv = tmp_path / "palmares.csv"
    pal.to_csv(palmares_csv)
    zones_dir = tmp_path / "zones"
    ff.write_zones(zones, zones_dir)
    bad = tmp_path / "bad.csv"
    bad.write_text("commune;vacancy\n30007;0.12\n")
    run = CliRunner().invoke(
        cli,
        [
            "drivers",
            str(palmares_csv),
            "--zones",
            str(zones_dir),
            "--indicators",
            str(bad),
            "--out",
            str(tmp_path / "d.csv"),
        ],
    )
    assert run.exit_code != 0
    assert "no 'insee' column" in run.output and "Traceback" not in run.output
    assert len(run.output.strip().splitlines()) == 1
    wrong = CliRunner().invoke(
        cli,
        ["drivers", str(palmares_csv), "--zones", str(zones_dir), "--out", str(tmp_path / "d.txt")],
    )
    assert wrong.exit_code != 0 and "write .csv, .md or .html" in wrong.output


def test_indicators_as_french_spreadsheets_save_them(pal, zones, tmp_path):
    towns = pal.scores[pal.scores["eligible"]]
    rows = ["insee;nom;vacance;libre"]
    rows += [f"{i.lstrip('0')};Ville é {k};{k},5;texte {k}" for k, i in enumerate(towns["insee"])]
    path = tmp_path / "towns.csv"
    path.write_bytes("\n".join(rows).encode("cp1252"))
    result = ff.drivers(pal, zones, indicators=path, n_boot=200, builtin=False)
    assert result.indicators == {"vacance": "numeric"}
    got = result.towns.set_index("insee")["vacance"]
    assert got.notna().all() and got.loc["01053"] % 1 == 0.5
    notes = " ".join(result.notes)
    assert "column 'nom' read as a label" in notes and "column 'libre' left out" in notes
    assert "leading zero" in notes


def test_bad_palmares_is_one_clean_error(zones, tmp_path):
    bad = tmp_path / "p.csv"
    bad.write_text("zone_id,passages\n30007-centre,12\n")
    with pytest.raises(ff.InputError, match="lacks column"):
        ff.drivers(bad, zones)


def test_report_section(hourly, zones, indicators_csv, tmp_path):
    page = ff.write_report(hourly, zones, tmp_path / "r.html", indicators=indicators_csv)
    text = page.read_text()
    assert '<section id="drivers">' in text and "What drives dynamism" in text
    assert text.index('id="drivers"') < text.index('id="method"')
    md = ff.write_report(hourly, zones, tmp_path / "r.md", indicators=indicators_csv)
    assert "## What drives dynamism" in md.read_text()
