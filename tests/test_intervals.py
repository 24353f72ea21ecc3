"""95 % intervals (issue 16): replicate tables, calibration by simulation, end to end.

The calibration draws a population of devices, keeps a random 10 % panel, and checks
that the intervals computed from the panel's replicate tables cover the population's
figure as often as they claim. ``python tests/test_intervals.py`` prints the larger
coverage table of the note.
"""

from __future__ import annotations

import sys
import uuid

import numpy as np
import pandas as pd

import footfall as ff
from footfall.indicators import figure_intervals, replicate_figures
from footfall.tables import Replicates
from footfall.zones import ZoneSet

G = 32
DAYS = pd.date_range("2020-02-01", "2020-04-30", freq="D")
BASELINE = ("2020-02-01", "2020-03-15")
CRISIS = ("2020-03-16", "2020-04-30")


def _normalised_daily(passages: np.ndarray, active: np.ndarray, zones: list[str]) -> pd.DataFrame:
    """Point daily table as daily_passages gives it: passages * reference / active."""
    days = pd.DatetimeIndex(DAYS, name="day")
    in_base = days <= pd.Timestamp(BASELINE[1])
    factor = active[in_base].mean() / active
    return pd.DataFrame(passages.T * factor[:, None], index=days, columns=zones)


def simulate_panel(towns: int, rng: np.random.Generator, *, share: float = 0.1,
                   sizes: tuple[int, int] = (300, 4000)) -> dict:  # fmt: skip
    """A population of devices, a random panel of it; the panel's replicate tables.

    Each town has ``N`` devices (log-uniform in `sizes`) with heterogeneous visit rates
    (gamma, over-dispersed); in the crisis a town keeps a share ``r`` of its visits.
    Devices visit on a day a Poisson number of distinct hours; every device is active
    on a day with probability 0.9 (the panel's active devices). The panel keeps each
    device with probability `share`; devices fall in ``G`` groups at random, as keyed
    hashes do. Devices outside the panel are drawn in aggregate (sums of Poissons).
    """
    zones = [f"z{t:03d}" for t in range(towns)]
    n_days = len(DAYS)
    crisis = DAYS >= pd.Timestamp(CRISIS[0])
    size = np.exp(rng.uniform(*np.log(sizes), towns)).astype(int)
    keep = rng.uniform(0.3, 1.0, towns)
    pop_p = np.zeros((towns, n_days))
    panel_p = np.zeros((towns, n_days, G))
    panel_active = np.zeros((n_days, G))
    pop_active = np.zeros(n_days)
    weekday = 1 + 0.3 * (DAYS.day_of_week >= 5)
    for t in range(towns):
        rate = rng.gamma(0.5, 2.0, size[t]) * 0.4
        day_rate = np.where(crisis, keep[t], 1.0) * weekday
        in_panel = rng.uniform(size=size[t]) < share
        group = rng.integers(0, G, in_panel.sum())
        visits = rng.poisson(rate[in_panel][:, None] * day_rate[None, :])  # devices x days
        np.add.at(panel_p[t], (slice(None), group), visits.T)
        rest = rng.poisson(rate[~in_panel].sum() * day_rate)
        pop_p[t] = visits.sum(axis=0) + rest
        act = rng.uniform(size=(in_panel.sum(), n_days)) < 0.9
        np.add.at(panel_active, (slice(None), group), act.T)
        pop_active += act.sum(axis=0) + rng.binomial((~in_panel).sum(), 0.9, n_days)
    t_i, d_i, g_i = np.nonzero(panel_p)
    visits = pd.DataFrame(
        {
            "zone_id": np.asarray(zones, dtype=object)[t_i],
            "day": DAYS[d_i],
            "group": g_i.astype(np.int16),
            "passages": panel_p[t_i, d_i, g_i].astype(np.int64),
        }
    )
    d_j, g_j = np.nonzero(panel_active)
    panel = pd.DataFrame(
        {
            "day": DAYS[d_j],
            "group": g_j.astype(np.int16),
            "active_devices": panel_active[d_j, g_j].astype(np.int64),
        }
    )
    return {
        "replicates": Replicates(visits, panel, G),
        "daily": _normalised_daily(panel_p.sum(axis=2), panel_active.sum(axis=1), zones),
        "truth": _normalised_daily(pop_p, pop_active, zones),
        "panel_devices": (size * share),
        "zones": zones,
    }  # fmt: skip


def coverage_run(towns: int, repeats: int, seed: int = 0, **kw) -> pd.DataFrame:
    """Per town and repeat: panel devices, point, interval and population resilience."""
    rng = np.random.default_rng(seed)
    rows = []
    for rep in range(repeats):
        sim = simulate_panel(towns, rng, **kw)
        figures = replicate_figures(sim["replicates"], sim["daily"], baseline=BASELINE,
                                    crisis=CRISIS, period=CRISIS)  # fmt: skip
        bounds = figure_intervals(figures, sim["zones"])
        point = ff.resilience(sim["daily"], baseline=BASELINE, crisis=CRISIS)["resilience"]
        truth = ff.resilience(sim["truth"], baseline=BASELINE, crisis=CRISIS)["resilience"]
        rows.append(pd.DataFrame({
            "repeat": rep, "panel_devices": sim["panel_devices"], "point": point.to_numpy(),
            "low": bounds["resilience_low"].to_numpy(),
            "high": bounds["resilience_high"].to_numpy(),
            "truth": truth.to_numpy()}))  # fmt: skip
    out = pd.concat(rows, ignore_index=True)
    out["covered"] = (out["low"] <= out["truth"]) & (out["truth"] <= out["high"])
    out["width"] = out["high"] - out["low"]
    return out


def test_resilience_intervals_cover_the_population_value():
    runs = coverage_run(towns=100, repeats=3, seed=1)
    assert len(runs) >= 200 and runs["low"].notna().all()
    coverage = runs["covered"].mean()
    assert 0.90 <= coverage <= 0.98, coverage
    # width shrinks like 1 / sqrt(panel devices): the log-log slope is about -1/2
    slope = np.polyfit(np.log(runs["panel_devices"]), np.log(runs["width"] / runs["point"]), 1)[0]
    assert -0.65 <= slope <= -0.35, slope


def test_replicate_weights_are_fixed_and_sum_to_the_groups():
    w = ff.indicators.replicate_weights(32, 50, seed=3)
    assert w.shape == (50, 32) and np.all(w.sum(axis=1) == 32)
    assert np.array_equal(w, ff.indicators.replicate_weights(32, 50, seed=3))


def test_widening_is_the_small_g_correction_and_keeps_the_point():
    # sqrt(G / (G - 1)) x t(G - 1) / z: t(31) = 2.0395, t(5) = 2.5706 at 97.5 %
    assert abs(ff.indicators.widening(32) - np.sqrt(32 / 31) * 2.0395 / 1.95996) < 1e-3
    assert abs(ff.indicators.widening(6) - np.sqrt(6 / 5) * 2.5706 / 1.95996) < 5e-3
    sim = simulate_panel(20, np.random.default_rng(4))
    opts = dict(baseline=BASELINE, crisis=CRISIS, period=CRISIS)
    raw = replicate_figures(sim["replicates"], sim["daily"], widen=False, **opts)
    wide = replicate_figures(sim["replicates"], sim["daily"], **opts)
    point = replicate_figures(sim["replicates"], sim["daily"], weights=np.ones((1, G)), **opts)
    # all weights 1 is the point figure of the daily table
    exact = ff.resilience(sim["daily"], baseline=BASELINE, crisis=CRISIS)["resilience"]
    assert np.allclose(point["resilience"][0], exact.to_numpy())
    c = ff.indicators.widening(G)
    for name in ("monthly_passages", "resilience"):
        p0 = point[name][0]
        assert np.allclose(wide[name] - p0, c * (raw[name] - p0))


# ---------------------------------------------------------------------------------------
# end to end: pings -> count_passages -> palmares


def _pings(zones, devices_per_town: int, rng: np.random.Generator):
    """Pings of a population: each device visits its own town's centre some hours a day."""
    gdf = zones.gdf
    towns = len(gdf)
    pts = gdf.geometry.representative_point()
    keep = rng.uniform(0.3, 1.0, towns)
    days = pd.date_range("2020-02-01", "2020-03-31", freq="D", tz="Europe/Paris")
    crisis = days >= pd.Timestamp("2020-03-16", tz="Europe/Paris")
    frames = []
    for t in range(towns):
        n = devices_per_town
        ids = np.array([str(uuid.UUID(int=int(x))) for x in rng.integers(0, 2**62, n)])
        rate = rng.gamma(0.5, 2.0, n) * 0.5
        visits = rng.poisson(rate[:, None] * np.where(crisis, keep[t], 1.0)[None, :])
        dev, day = np.nonzero(visits)
        count = visits[dev, day]
        dev, day = np.repeat(dev, count), np.repeat(day, count)
        hour = rng.integers(8, 20, len(dev))
        ts = days[day] + pd.to_timedelta(hour, unit="h") + pd.to_timedelta(
            rng.integers(0, 3600, len(dev)), unit="s")  # fmt: skip
        frames.append(pd.DataFrame({
            "device_id": ids[dev], "timestamp": ts.tz_convert("UTC"),
            "lat": pts.y.iloc[t], "lon": pts.x.iloc[t]}))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def test_count_and_palmares_give_intervals_that_cover():
    zones = ff.read_zones("zones/")
    sub = ZoneSet(zones.gdf.head(30).reset_index(drop=True))
    rng = np.random.default_rng(7)
    pings = _pings(sub, 800, rng)
    devices = pings["device_id"].unique()
    panel_ids = set(devices[rng.uniform(size=len(devices)) < 0.1])
    panel = pings[pings["device_id"].isin(panel_ids)]
    options = dict(top=None, period=("2020-03-16", "2020-03-31"),
                   baseline=("2020-02-01", "2020-03-15"),
                   crisis=("2020-03-16", "2020-03-31"), max_population=None,
                   exclude_ile_de_france=False, exclude_overseas=False,
                   exclude_metro_continuity=False, exclude_tourist=False)  # fmt: skip
    hourly = ff.count_passages(panel, sub)
    reps = ff.read_replicates(hourly)
    # exact: the replicate tables sum to the daily passages and the panel
    daily = hourly.groupby(["zone_id", hourly["hour"].dt.tz_localize(None).dt.normalize()])[
        "passages"].sum()  # fmt: skip
    by_group = reps.visits.groupby(["zone_id", "day"])["passages"].sum()
    assert by_group.sort_index().to_numpy().tolist() == daily.sort_index().to_numpy().tolist()
    assert reps.panel["active_devices"].sum() == ff.read_panel(hourly)["active_devices"].sum()
    result = ff.palmares(hourly, sub, **options)
    t = result.table
    assert list(t.columns[-6:]) == ["monthly_passages_low", "monthly_passages_high",
        "resilience_low", "resilience_high", "rank_low", "rank_high"]  # fmt: skip
    assert (t["resilience_low"] <= t["resilience"]).all()
    assert (t["resilience"] <= t["resilience_high"]).all()
    assert (t["rank_low"] <= t["rank"]).all() and (t["rank"] <= t["rank_high"]).all()
    assert not result.ties.empty
    truth = ff.palmares(ff.count_passages(pings, sub, intervals=False), sub, **options)
    assert truth.table["rank_low"].isna().all()
    pop = truth.scores["resilience"].reindex(t["zone_id"]).to_numpy()
    covered = (t["resilience_low"].to_numpy() <= pop) & (pop <= t["resilience_high"].to_numpy())
    assert covered.mean() >= 0.8, covered.mean()


if __name__ == "__main__":  # the note's coverage table
    towns, repeats = (int(a) for a in sys.argv[1:3]) if len(sys.argv) > 2 else (200, 10)
    runs = coverage_run(towns, repeats, seed=11)
    bins = pd.cut(runs["panel_devices"], [0, 50, 100, 200, 400, 1000])
    table = runs.groupby(bins, observed=True).agg(
        n=("covered", "size"), coverage=("covered", "mean"),
        rel_width=("width", lambda w: float(np.median(w / runs.loc[w.index, "point"]))),
        devices=("panel_devices", "median"))  # fmt: skip
    table["width_x_sqrt_devices"] = table["rel_width"] * np.sqrt(table["devices"])
    print(table.to_string())
    print(f"overall coverage {runs['covered'].mean():.3f} over {len(runs)} town-replicates")
