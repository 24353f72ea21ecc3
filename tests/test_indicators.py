"""Counting: normalisation, daily/monthly passages and resilience on hand-made tables."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import footfall as ff
from footfall.errors import InputError
from footfall.indicators import window_coverage
from footfall.tables import attach_panel

TZ = "Europe/Paris"


def hourly_table(rows, panel=None):
    """rows: (zone_id, local wall-clock hour, passages)."""
    df = pd.DataFrame(
        {
            "zone_id": [r[0] for r in rows],
            "hour": pd.DatetimeIndex([pd.Timestamp(r[1]) for r in rows]).tz_localize(TZ),
            "passages": np.array([r[2] for r in rows], dtype="int64"),
            "pings": np.array([2 * r[2] for r in rows], dtype="int64"),
        }
    )
    if panel is not None:
        attach_panel(df, panel_table(panel))
    return df


def panel_table(active: dict[str, int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "day": [pd.Timestamp(d).date() for d in active],
            "active_devices": np.array(list(active.values()), dtype="int64"),
        }
    )


# Four days; baseline = 14-15 March (mean panel 15), crisis = 16-17 March.
PANEL = {"2020-03-14": 10, "2020-03-15": 20, "2020-03-16": 30, "2020-03-17": 40}
BASE = ("2020-03-14", "2020-03-15")
CRISIS = ("2020-03-16", None)


@pytest.fixture
def hourly():
    return hourly_table(
        [
            ("a", "2020-03-14 10:00", 2),
            ("a", "2020-03-14 23:00", 3),
            ("a", "2020-03-15 09:00", 4),
            ("b", "2020-03-15 12:00", 6),
            ("a", "2020-03-16 01:00", 6),
            ("a", "2020-03-17 12:00", 8),
        ],
        PANEL,
    )


def test_normalise_hand_computed(hourly):
    out = ff.normalise(hourly, baseline=BASE)
    # reference = (10 + 20) / 2 = 15; factor = 15 / active devices of the day
    expected = [2 * 1.5, 3 * 1.5, 4 * 0.75, 6 * 0.75, 6 * 0.5, 8 * 0.375]
    np.testing.assert_allclose(out["normalised"], expected)
    assert out["passages"].dtype == "int64"  # the raw counts stay as they were


def test_normalise_reference_and_expansion(hourly):
    out = ff.normalise(hourly, reference=60, expand=2.5)
    assert out["normalised"].iloc[0] == pytest.approx(2 * 60 / 10 * 2.5)
    pop = ff.normalise(hourly, baseline=BASE, expand="population")
    assert pop["normalised"].iloc[0] == pytest.approx(2 * ff.indicators.FRANCE_POPULATION / 10)


def test_normalise_needs_a_panel(hourly):
    hourly.attrs.clear()
    with pytest.raises(InputError, match="normalise=False"):
        ff.normalise(hourly)
    with pytest.raises(InputError, match="--no-normalise"):
        ff.daily_passages(hourly)
    # an explicit panel works, and normalise=False works without one
    assert ff.normalise(hourly, panel_table(PANEL), baseline=BASE)["normalised"].notna().all()
    assert ff.daily_passages(hourly, normalise=False).loc["2020-03-14", "a"] == 5


def test_panel_without_baseline_day(hourly):
    with pytest.raises(InputError, match="baseline window 2020-01-01..2020-03-13.*reference"):
        ff.normalise(hourly, baseline=("2020-01-01", "2020-03-13"))


@pytest.mark.parametrize(
    "panel, match",
    [
        (pd.DataFrame({"day": ["2020-03-14"]}), "active_devices"),
        (
            pd.DataFrame({"day": ["2020-03-14", "2020-03-14"], "active_devices": [1, 2]}),
            "2020-03-14 appears twice",
        ),
        (pd.DataFrame({"day": ["monday"], "active_devices": [1]}), "'day' does not hold dates"),
    ],
)
def test_bad_panel(hourly, panel, match):
    with pytest.raises(InputError, match=match):
        ff.daily_passages(hourly, panel)


def test_empty_hourly(hourly):
    empty = hourly.iloc[:0].copy()
    empty.attrs = {}
    with pytest.raises(InputError, match="no covered day"):
        ff.daily_passages(empty, normalise=False)
    daily = ff.daily_passages(empty, panel_table(PANEL), zone_ids=["a"], baseline=BASE)
    assert daily["a"].tolist() == [0.0] * 4


def test_bad_hourly(hourly):
    with pytest.raises(InputError, match=r"lacks column\(s\) \['passages'\]"):
        ff.daily_passages(hourly.drop(columns="passages"))
    naive = hourly.assign(hour=hourly["hour"].dt.tz_localize(None))
    with pytest.raises(InputError, match="tz-aware"):
        ff.daily_passages(naive)


def test_daily_zero_fill_and_coverage(hourly):
    panel = panel_table({k: v for k, v in PANEL.items() if k != "2020-03-16"})
    daily = ff.daily_passages(hourly, panel, zone_ids=["a", "b", "c"], baseline=BASE)
    assert list(daily.columns) == ["a", "b", "c"]
    assert list(daily.index.strftime("%d")) == ["14", "15", "16", "17"]
    # 16 March is outside the coverage: missing for every zone, never 0,
    # and the passages counted that day are dropped.
    assert daily.loc["2020-03-16"].isna().all()
    # covered days with no row count as 0; zone c never appears: zeros
    assert daily.loc["2020-03-14", "b"] == 0
    assert (daily["c"].dropna() == 0).all()
    np.testing.assert_allclose(daily["a"].dropna(), [7.5, 3.0, 3.0])
    first, last, coverage = window_coverage(daily, (None, None))
    assert (first.day, last.day, coverage) == (14, 17, 0.75)


def test_daily_without_panel_spans_the_hourly_days(hourly):
    hourly.attrs.clear()
    daily = ff.daily_passages(hourly, normalise=False)
    assert daily.index.min() == pd.Timestamp("2020-03-14")
    assert daily.index.max() == pd.Timestamp("2020-03-17")
    assert daily.notna().all().all()
    assert daily.loc["2020-03-16", "b"] == 0


def test_days_are_local_days_across_dst():
    # 2020-03-29: clocks go forward (02:00 does not exist);
    # 2020-10-25: 02:00-03:00 happens twice, as two buckets of the same local day.
    utc = pd.DatetimeIndex(
        [
            "2020-03-28T23:30",  # 00:30 local, 29 March
            "2020-03-29T01:00",  # 03:00 CEST
            "2020-10-25T00:00",  # 02:00 CEST
            "2020-10-25T01:00",  # 02:00 CET (repeated hour)
            "2020-10-25T22:59",  # 23:59 CET, still 25 October
            "2020-10-25T23:00",  # 00:00 CET, 26 October
        ],
        tz="UTC",
    ).floor("h")
    hourly = pd.DataFrame(
        {
            "zone_id": "z",
            "hour": utc.tz_convert(TZ),
            "passages": np.array([1, 2, 4, 8, 16, 32], dtype="int64"),
            "pings": np.ones(6, dtype="int64"),
        }
    )
    daily = ff.daily_passages(hourly, normalise=False)["z"]
    assert daily.index[0] == pd.Timestamp("2020-03-29")  # 23:30 UTC on the 28th
    assert daily["2020-03-29"] == 3
    assert daily["2020-10-25"] == 4 + 8 + 16
    assert daily["2020-10-26"] == 32


def test_resilience_hand_computed_and_window_edges(hourly):
    daily = ff.daily_passages(hourly, baseline=BASE)
    # a: baseline days 7.5 and 3.0; crisis days 3.0 and 3.0; both ends inclusive
    res = ff.resilience(daily, baseline=BASE, crisis=CRISIS)
    assert res.loc["a", "baseline"] == pytest.approx(5.25)
    assert res.loc["a", "crisis"] == pytest.approx(3.0)
    assert res.loc["a", "resilience"] == pytest.approx(3.0 / 5.25)
    assert res.loc["a", "reason"] == ""
    # b has passages only in the baseline: index 0, a number
    assert res.loc["b", "resilience"] == 0
    # a one-day baseline is just that day: the ends are inclusive
    one = ff.resilience(daily, baseline=("2020-03-15", "2020-03-15"), crisis=CRISIS)
    assert one.loc["a", "resilience"] == pytest.approx(3.0 / 3.0)
    # an open start is the first day with data
    assert ff.resilience(daily, baseline=(None, "2020-03-15"), crisis=CRISIS).equals(res)


def test_resilience_reasons_instead_of_numbers(hourly):
    daily = ff.daily_passages(hourly, zone_ids=["a", "b", "c"], baseline=BASE)
    res = ff.resilience(daily, baseline=BASE, crisis=CRISIS)
    assert np.isnan(res.loc["c", "resilience"])
    assert res.loc["c", "reason"] == "no passage in the baseline window"
    # the baseline window reaches back before the data: 2 of 10 days covered
    short = ff.resilience(daily, baseline=("2020-03-06", "2020-03-15"), crisis=CRISIS)
    assert short["resilience"].isna().all()
    assert short.loc["a", "reason"] == (
        "baseline window 2020-03-06..2020-03-15 has data on 20% of its days (min_coverage 80%)"
    )
    lenient = ff.resilience(
        daily, baseline=("2020-03-06", "2020-03-15"), crisis=CRISIS, min_coverage=0.2
    )
    assert lenient.loc["a", "resilience"] == pytest.approx(3.0 / 5.25)
    # a crisis window after the data: no day at all
    after = ff.resilience(daily, baseline=BASE, crisis=("2020-04-01", None))
    assert after.loc["a", "reason"].startswith("crisis window 2020-04-01..")


def test_monthly_passages_hand_computed(hourly):
    daily = ff.daily_passages(hourly, baseline=BASE)
    monthly = ff.monthly_passages(daily, period=("2020-03-15", "2020-03-17"))
    # a: mean of 3.0, 3.0, 3.0 over the period's days, times 365.25 / 12
    assert monthly["a"] == pytest.approx(3.0 * 365.25 / 12)
    assert monthly["b"] == pytest.approx(4.5 / 3 * 365.25 / 12)
    assert monthly.name == "monthly_passages"
    with pytest.raises(InputError, match="ranking period 2020-03-01..2021-01-31: data on 1%"):
        ff.monthly_passages(daily)


def test_monthly_series_scales_partial_months():
    rows = [("z", f"2020-01-{d:02d} 12:00", 2) for d in range(1, 32)]
    rows += [("z", "2020-02-01 12:00", 10), ("z", "2020-02-02 12:00", 20)]
    hourly = hourly_table(rows)
    monthly = ff.monthly_series(ff.daily_passages(hourly, normalise=False))
    assert monthly.loc[pd.Period("2020-01", "M"), "z"] == 62  # a full month: its total
    assert monthly.loc[pd.Period("2020-02", "M"), "z"] == pytest.approx(15 * 29)


def reference_daily(rows, active, reference):
    """Brute force: one Python loop, local day = wall-clock date."""
    sums = defaultdict(float)
    for zone, hour, passages in rows:
        sums[zone, hour.date().isoformat()] += passages
    return {
        (z, d): (sums.get((z, d), 0.0) * reference / a) if a > 0 else np.nan
        for z in {r[0] for r in rows}
        for d, a in active.items()
    }


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["p", "q", "r"]),
            st.integers(0, 40 * 24 - 1),
            st.integers(1, 50),
        ),
        min_size=1,
        max_size=60,
    ),
    st.lists(st.integers(0, 500), min_size=40, max_size=40),
)
def test_daily_matches_brute_force(events, sizes):
    start = pd.Timestamp("2020-03-10")  # spans the spring DST change
    rows = [(z, start + pd.Timedelta(hours=h), n) for z, h, n in events]
    rows = [r for r in rows if not (r[1].date().isoformat() == "2020-03-29" and r[1].hour == 2)]
    if not rows:
        return
    active = {(start + pd.Timedelta(days=i)).date().isoformat(): s for i, s in enumerate(sizes)}
    if not any(active.values()):
        return
    hourly = hourly_table([(z, h.isoformat(), n) for z, h, n in rows])
    hourly = hourly.groupby(["zone_id", "hour"], as_index=False)[["passages", "pings"]].sum()
    daily = ff.daily_passages(hourly, panel_table(active), reference=100.0)
    expected = reference_daily(rows, active, 100.0)
    for (zone, day), value in expected.items():
        if day in daily.index.strftime("%Y-%m-%d"):
            got = daily.loc[day, zone]
            assert (np.isnan(got) and np.isnan(value)) or got == pytest.approx(value)
        else:  # trimmed: outside the first..last covered day
            assert np.isnan(value)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(1, 1000), min_size=20, max_size=20),
    st.lists(st.integers(0, 30), min_size=20, max_size=20),
    st.floats(1, 1e6),
    st.integers(1, 19),
)
def test_resilience_invariances(sizes, counts, reference, split):
    days = pd.date_range("2020-01-01", periods=20, freq="D")
    rows = [("z", d + pd.Timedelta(hours=10), n) for d, n in zip(days, counts, strict=True) if n]
    if not rows:
        return
    hourly = hourly_table([(z, h.isoformat(), n) for z, h, n in rows])
    active = {d.date().isoformat(): s for d, s in zip(days, sizes, strict=True)}
    base, crisis = (None, days[split - 1]), (days[split], None)
    daily = ff.daily_passages(hourly, panel_table(active), reference=reference)
    res = ff.resilience(daily, baseline=base, crisis=crisis)
    # the reference level cancels out of the ratio
    other = ff.daily_passages(hourly, panel_table(active), reference=1.0)
    pd.testing.assert_frame_equal(
        res[["resilience", "reason"]],
        ff.resilience(other, baseline=base, crisis=crisis)[["resilience", "reason"]],
        rtol=1e-9,
    )
    # monthly passages scale with it
    np.testing.assert_allclose(
        ff.monthly_passages(daily, period=(None, None)),
        reference * ff.monthly_passages(other, period=(None, None)),
        rtol=1e-9,
    )
    # a constant panel makes normalised and raw resilience equal
    flat = panel_table(dict.fromkeys(active, 500))
    norm = ff.resilience(ff.daily_passages(hourly, flat), baseline=base, crisis=crisis)
    raw = ff.resilience(
        ff.daily_passages(hourly, flat, normalise=False), baseline=base, crisis=crisis
    )
    pd.testing.assert_series_equal(norm["resilience"], raw["resilience"], rtol=1e-9)


def test_window_edges_are_local_days():
    # 23:00 local on 15 March is baseline; 00:00 local on 16 March (23:00 UTC on the 15th)
    # is crisis. Default windows: baseline 1 Jan - 15 Mar, crisis 16 Mar - end.
    days = pd.date_range("2020-01-01", "2020-03-31", freq="D")
    rows = [("z", f"{d:%Y-%m-%d} 12:00", 10) for d in days]
    rows += [("z", "2020-03-15 23:00", 75), ("z", "2020-03-16 00:00", 16)]
    hourly = hourly_table(rows, dict.fromkeys(days.strftime("%Y-%m-%d"), 100))
    res = ff.resilience(ff.daily_passages(hourly)).loc["z"]
    assert res["baseline"] == pytest.approx(10 + 75 / 75)  # 75 baseline days
    assert res["crisis"] == pytest.approx(10 + 16 / 16)  # 16 crisis days
    assert res["resilience"] == pytest.approx(11 / 11)
