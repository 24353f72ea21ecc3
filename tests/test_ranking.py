"""Eligibility and ranking on hand-made zones and hourly tables."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import footfall as ff
from footfall.errors import InputError
from footfall.ranking import COLUMNS, seasonality
from footfall.tables import attach_panel

TZ = "Europe/Paris"
DAYS = pd.date_range("2020-01-01", "2020-04-30", freq="D")
BASE = ("2020-01-01", "2020-03-15")
PERIOD = ("2020-03-01", "2020-04-30")

# zone_id, name, population, department, region, metro_continuity, tourist
TOWNS = [
    ("30007-centre", "Alès", 42_000, "30", "Occitanie", False, False),
    ("12202-centre", "Rodez", 24_000, "12", "Occitanie", False, None),
    ("64102-centre", "Bayonne", 51_000, "64", "Nouvelle-Aquitaine", False, None),
    ("56260-centre", "Vannes", 53_000, "56", "Bretagne", False, False),
    ("29019-centre", "Brest", 140_000, "29", "Bretagne", False, False),
    ("78646-centre", "Versailles", 85_000, "78", "Île-de-France", False, False),
    ("97411-centre", "Saint-Denis", 99_000, "974", "La Réunion", False, False),
    ("69259-centre", "Vénissieux", 66_000, "69", "Auvergne-Rhône-Alpes", True, False),
    ("06088-centre", "Nice", 98_000, "06", "Provence-Alpes-Côte d'Azur", False, True),
    ("91377-centre", "Massy", None, "91", "Ile-de-France", False, False),
]


def make_zones(towns=TOWNS):
    rows = [
        {
            "zone_id": z,
            "name": n,
            "insee": z[:5],
            "population": p,
            "department": d,
            "region": r,
            "metro_continuity": m,
            "tourist": t,
        }
        for z, n, p, d, r, m, t in towns
    ]
    boxes = [shapely.box(i, 45, i + 0.01, 45.01) for i in range(len(rows))]
    return ff.ZoneSet(gpd.GeoDataFrame(rows, geometry=boxes, crs="EPSG:4326"))


def make_hourly(levels, days=DAYS, panel=None):
    """levels: zone_id -> (baseline passages/day, crisis passages/day), one noon row a day."""
    rows = []
    for zone, (before, after) in levels.items():
        for day in days:
            n = before if day < pd.Timestamp("2020-03-16") else after
            if n:
                rows.append((zone, day + pd.Timedelta(hours=12), n))
    hourly = pd.DataFrame(
        {
            "zone_id": [r[0] for r in rows],
            "hour": pd.DatetimeIndex([r[1] for r in rows]).tz_localize(TZ),
            "passages": np.array([r[2] for r in rows], dtype="int64"),
            "pings": np.array([r[2] for r in rows], dtype="int64"),
        }
    )
    sizes = np.full(len(days), 1000) if panel is None else panel
    attach_panel(
        hourly,
        pd.DataFrame({"day": days.date, "active_devices": np.asarray(sizes, dtype="int64")}),
    )
    return hourly


LEVELS = {
    "30007-centre": (100, 80),
    "12202-centre": (50, 45),
    "64102-centre": (200, 100),
    "56260-centre": (150, 120),
    "29019-centre": (900, 900),
    "78646-centre": (900, 900),
    "97411-centre": (900, 900),
    "69259-centre": (900, 900),
    "06088-centre": (900, 900),
    "91377-centre": (900, 900),
}


def run(levels=LEVELS, zones=None, **kw):
    kw = {"baseline": BASE, "period": PERIOD} | kw
    return ff.palmares(make_hourly(levels), make_zones() if zones is None else zones, **kw)


def test_palmares_hand_computed():
    result = run()
    table = result.table
    assert list(table.columns) == COLUMNS
    assert list(table["zone_id"]) == [
        "56260-centre",
        "64102-centre",
        "30007-centre",
        "12202-centre",
    ]
    assert list(table["rank"]) == [1, 2, 3, 4]
    # Vannes: 15 days at 150 (1-15 March) and 46 at 120 over 61 days of the period
    vannes = table.iloc[0]
    assert vannes["monthly_passages"] == pytest.approx((15 * 150 + 46 * 120) / 61 * 365.25 / 12)
    assert vannes["resilience"] == pytest.approx(0.8)
    assert vannes[["name", "insee", "region", "population"]].tolist() == [
        "Vannes",
        "56260",
        "Bretagne",
        53_000,
    ]
    assert result.mean_resilience == pytest.approx(np.mean([0.8, 0.5, 0.8, 0.9]))
    assert list(result.most_resilient["zone_id"][:2]) == ["12202-centre", "56260-centre"]
    assert result.regions.to_dict("list") == {
        "region": ["Occitanie", "Bretagne", "Nouvelle-Aquitaine"],
        "top_n": [2, 1, 1],
        "top_10": [2, 1, 1],
    }
    assert result.params["baseline"] == ["2020-01-01", "2020-03-15"]
    assert result.params["crisis"] == ["2020-03-16", None]
    # ff.rank is the table alone
    pd.testing.assert_frame_equal(
        ff.rank(make_hourly(LEVELS), make_zones(), baseline=BASE, period=PERIOD), table
    )


def test_every_filter_and_its_reason():
    result = run()
    reasons = result.excluded.set_index("zone_id")["reasons"].to_dict()
    assert reasons == {
        "29019-centre": "population 140,000 >= 100,000",
        "78646-centre": "in Île-de-France",
        "97411-centre": "overseas (department 974)",
        "69259-centre": "in urban continuity with a métropole",
        "06088-centre": "tourist town (zone property)",
        # its population is filled from the commune table by its insee (issue 14)
        "91377-centre": "in Île-de-France",
    }
    # Rodez and Bayonne have a null tourist flag and no full pre-crisis year: unknown, kept
    assert result.scores.loc["12202-centre", "tourist"] == "unknown"
    assert result.scores.loc["30007-centre", "tourist"] == "no"
    assert result.scores.loc["06088-centre", "tourist"] == "yes"


@pytest.mark.parametrize(
    "param, value, zone",
    [
        ("max_population", None, "29019-centre"),
        ("max_population", 140_001, "29019-centre"),
        ("exclude_ile_de_france", False, "78646-centre"),
        ("exclude_overseas", False, "97411-centre"),
        ("exclude_metro_continuity", False, "69259-centre"),
        ("exclude_tourist", False, "06088-centre"),
    ],
)
def test_each_filter_can_be_lifted(param, value, zone):
    elig = ff.eligibility(make_zones(), **{param: value})
    assert elig.loc[zone, "eligible"]
    assert not ff.eligibility(make_zones()).loc[zone, "eligible"]


def test_population_limit_is_strict():
    towns = [TOWNS[0][:2] + (100_000,) + TOWNS[0][3:], TOWNS[1][:2] + (99_999,) + TOWNS[1][3:]]
    elig = ff.eligibility(make_zones(towns))
    assert elig["eligible"].to_dict() == {"12202-centre": True, "30007-centre": False}
    assert elig.loc["30007-centre", "reasons"] == "population 100,000 >= 100,000"


def test_overseas_by_region_name_and_idf_by_department():
    towns = [
        ("97209-centre", "Fort-de-France", 78_000, "972", "Martinique", False, False),
        ("97611-centre", "Mamoudzou", 71_000, "", "Mayotte", False, False),
        ("95018-centre", "Argenteuil", 99_000, "95", "", False, False),
    ]
    elig = ff.eligibility(make_zones(towns))
    assert not elig["eligible"].any()
    assert elig.loc["97611-centre", "reasons"] == "overseas (Mayotte)"
    assert elig.loc["95018-centre", "reasons"] == "in Île-de-France"


def seasonal_daily(summer_factor):
    days = pd.date_range("2019-01-01", "2020-04-30", freq="D")
    base = np.full(len(days), 100.0)
    summer = (days.month >= 7) & (days.month <= 8) & (days.year == 2019)
    daily = pd.DataFrame({"64102-centre": base, "12202-centre": base}, index=days)
    daily.loc[summer, "64102-centre"] *= summer_factor
    return daily


def test_tourist_from_data_seasonality():
    daily = seasonal_daily(3.0)
    # July-August: 62 days at 300, 303 days at 100 -> annual mean 134.0
    ratio = seasonality(daily)
    assert ratio["64102-centre"] == pytest.approx(300 / ((62 * 300 + 303 * 100) / 365))
    assert ratio["12202-centre"] == pytest.approx(1.0)
    elig = ff.eligibility(make_zones(), daily)
    assert elig.loc["64102-centre", "tourist"] == "yes"
    assert not elig.loc["64102-centre", "eligible"]
    assert elig.loc["64102-centre", "reasons"] == (
        "tourist town (summer/annual passages 2.24 > 1.3)"
    )
    assert elig.loc["12202-centre", "tourist"] == "no"
    assert elig.loc["12202-centre", "eligible"]
    # the zone property wins over the data: Alès says "not touristic"
    assert elig.loc["30007-centre", "tourist"] == "no"
    # a milder season stays under the threshold
    assert ff.eligibility(make_zones(), seasonal_daily(1.25)).loc["64102-centre", "eligible"]


def test_tourist_unknown_without_a_full_year():
    daily = seasonal_daily(3.0).loc["2019-03-01":]  # 2019 only 84 % covered... still enough
    assert seasonality(daily).notna().all()
    daily = seasonal_daily(3.0).loc["2019-06-01":]  # 58 % of 2019: the data cannot tell
    assert seasonality(daily).isna().all()
    elig = ff.eligibility(make_zones(), daily)
    assert elig.loc["64102-centre", "tourist"] == "unknown"
    assert elig.loc["64102-centre", "eligible"]


def test_ties_break_by_resilience_then_zone_id():
    towns = [
        ("00003-centre", "C", 1, "01", "R1", False, False),
        ("00001-centre", "A", 1, "01", "R1", False, False),
        ("00002-centre", "B", 1, "01", "R2", False, False),
        ("00004-centre", "D", 1, "01", "R2", False, False),
    ]
    # 7 baseline days (9-15 March) and 46 crisis days: B = 7 * 1 + 46 * 54 = 53 * 47,
    # the same total as A, C and D at 47 a day, but B is the most resilient.
    days = pd.date_range("2020-03-09", "2020-04-30", freq="D")
    levels = {t[0]: (47, 47) for t in towns} | {"00002-centre": (1, 54)}
    result = ff.palmares(
        make_hourly(levels, days=days),
        make_zones(towns),
        baseline=("2020-03-09", "2020-03-15"),
        period=(None, None),
    )
    assert result.table["monthly_passages"].nunique() == 1
    assert list(result.table["name"]) == ["B", "A", "C", "D"]
    assert list(result.table["rank"]) == [1, 2, 3, 4]


def test_zone_without_resilience_is_ranked_and_skipped_in_the_mean():
    levels = dict(LEVELS) | {"12202-centre": (0, 45)}
    result = run(levels)
    row = result.table.set_index("zone_id").loc["12202-centre"]
    assert np.isnan(row["resilience"])
    assert result.scores.loc["12202-centre", "resilience_reason"] == (
        "no passage in the baseline window"
    )
    assert result.mean_resilience == pytest.approx(np.mean([0.8, 0.5, 0.8]))


def test_top_and_normalisation_switch():
    assert len(run(top=2).table) == 2
    assert len(run(top=None).table) == 4
    # panel doubles at the crisis: normalised resilience 0.8 for Vannes, raw 1.6
    sizes = np.where(DAYS < pd.Timestamp("2020-03-16"), 1000, 2000)
    levels = {z: (b, 2 * a) for z, (b, a) in LEVELS.items()}
    hourly = make_hourly(levels, panel=sizes)
    norm = ff.palmares(hourly, make_zones(), baseline=BASE, period=PERIOD).table
    raw = ff.palmares(hourly, make_zones(), baseline=BASE, period=PERIOD, normalise=False).table
    assert norm.set_index("zone_id").loc["56260-centre", "resilience"] == pytest.approx(0.8)
    assert raw.set_index("zone_id").loc["56260-centre", "resilience"] == pytest.approx(1.6)


def test_bad_inputs():
    hourly = make_hourly(LEVELS | {"99999-nowhere": (1, 1)})
    with pytest.raises(InputError, match=r"1 zone\(s\) not in the zone set.*99999-nowhere"):
        ff.palmares(hourly, make_zones(), baseline=BASE, period=PERIOD)
    with pytest.raises(InputError, match="ranking period 2020-03-01..2021-01-31"):
        ff.palmares(make_hourly(LEVELS), make_zones(), baseline=BASE)
    hourly = make_hourly(LEVELS)
    hourly.attrs.clear()
    with pytest.raises(InputError, match="no panel table"):
        ff.palmares(hourly, make_zones(), baseline=BASE, period=PERIOD)


def test_outputs(tmp_path):
    result = run()
    result.to_csv(tmp_path / "p.csv")
    back = pd.read_csv(tmp_path / "p.csv", dtype={"insee": str})
    assert list(back.columns) == COLUMNS
    assert back["resilience"].tolist() == [0.8, 0.5, 0.8, 0.9]
    md = result.to_markdown()
    assert "| 1 | Vannes | Bretagne | 53,000 |" in md
    assert "| 80% |" in md
    assert "Mean resilience of these 4 towns: 75%; 3 regions represented; 6 zones" in md
    assert "Tourist status unknown for 2 of them" in md
