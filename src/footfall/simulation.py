"""Simulate the pings of a national app panel over the zones, with the truth it planted."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from footfall.errors import InputError
from footfall.manifest import atomic_path, file_record, make_manifest, write_manifest

__all__ = ["Simulation", "simulate", "read_truth", "calendar", "PING_SCHEMA"]

PING_SCHEMA = pa.schema(
    [
        ("device_id", pa.int64()),
        ("timestamp", pa.timestamp("ms", tz="UTC")),
        ("lat", pa.float64()),
        ("lon", pa.float64()),
        ("accuracy_m", pa.float32()),
    ]
)

#: Windows of the truth (local days, inclusive); "end" is the last simulated day.
WINDOWS = {
    "baseline": ("2020-01-01", "2020-03-15"),
    "crisis": ("2020-03-16", "end"),
    "ranking": ("2020-03-01", "end"),
}

# Share of a normal day's flow per local hour (shop hours), sums to 1.
_HOURS = np.array(
    [0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 1.2, 2.5, 4.0, 5.5, 6.5]
    + [6.8, 5.8, 5.6, 6.2, 6.8, 7.0, 6.5, 4.8, 3.0, 2.0, 1.2, 0.6]
)
_HOURS = _HOURS / _HOURS.sum()
# Zone flow by weekday, Monday first (Saturday peak, Sunday low), mean 1.
_WEEKDAY = np.array([0.9, 0.92, 1.0, 0.95, 1.05, 1.4, 0.5])
_WEEKDAY = _WEEKDAY / _WEEKDAY.mean()
# Active panel devices by weekday (the app is opened less at weekends).
_PANEL_WEEKDAY = np.array([1.0, 1.0, 1.0, 1.0, 1.02, 0.95, 0.9])
# Flow kept during the curfew hours (20:00 or 18:00 to 06:00).
_CURFEW_FLOW = 0.08
# Visit pings are drawn this far inside the zone; GPS noise is capped below it.
_MARGIN_M = 150.0
_MAX_ACCURACY_M = 50.0
# Mainland France, for background pings.
_FRANCE = (-4.8, 42.3, 8.2, 51.1)
_FAULTS = ("nan_coordinates", "out_of_range", "null_island", "null_timestamp",
           "implausible_timestamp", "null_device")  # fmt: skip


@dataclass
class Simulation:
    """What :func:`simulate` wrote: paths and the planted truth.

    Attributes
    ----------
    pings : Path
        Directory of pings, hive-partitioned by local day (``day=YYYY-MM-DD/``).
    truth_zones : pandas.DataFrame
        Per zone: ``zone_id``, ``base`` (expected passages per normal day at the first
        day's panel size), ``sensitivity``, ``tourist``, ``seasonal_amplitude``,
        ``resilience`` and ``monthly_passages`` (expected values of what the method
        measures, see Notes of :func:`simulate`), ``passages`` (planted total).
    truth_days : pandas.DataFrame
        Per local day: ``day``, ``active_devices`` (exact), ``level`` (national flow
        level of the calendar), ``curfew`` (hour or 0), ``rows``.
    meta : dict
        Windows, units and parameters.
    rows : int
        Ping rows written, faulty and duplicated ones included.
    """

    pings: Path
    truth_zones: pd.DataFrame
    truth_days: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)
    rows: int = 0


def calendar(days: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """National flow level (1 = normal) and curfew hour (0 = none) of French days 2020-21.

    First lockdown 17 March - 10 May 2020, gradual reopening, summer rebound, second
    lockdown 30 October (shops reopen 28 November) - 14 December, curfew at 20:00 from
    15 December and at 18:00 from 16 January 2021.
    """
    d = pd.DatetimeIndex(days).tz_localize(None).normalize()
    level = np.ones(len(d))
    curfew = np.zeros(len(d), dtype=np.int64)

    def span(a: str, b: str | None = None) -> np.ndarray:
        m = d >= pd.Timestamp(a)
        return m & (d <= pd.Timestamp(b)) if b else m

    level[span("2020-03-17", "2020-05-10")] = 0.22
    reopen = span("2020-05-11", "2020-06-30")
    ramp = (d[reopen] - pd.Timestamp("2020-05-11")).days / 50
    level[reopen] = 0.6 + 0.32 * np.asarray(ramp)
    level[span("2020-07-01", "2020-08-31")] = 0.97
    level[span("2020-09-01", "2020-10-29")] = 0.9
    level[span("2020-10-30", "2020-11-27")] = 0.4
    level[span("2020-11-28", "2020-12-14")] = 0.85
    level[span("2020-12-15", "2021-01-15")] = 0.82
    level[span("2021-01-16")] = 0.78
    curfew[span("2020-12-15", "2021-01-15")] = 20
    curfew[span("2021-01-16", "2021-06-08")] = 18
    return level, curfew


def _season(days: pd.DatetimeIndex, amplitude: np.ndarray) -> np.ndarray:
    """Seasonal factor (days x zones): a December shopping bump, summer for tourist towns."""
    doy = np.asarray(days.day_of_year, dtype=float)[:, None]
    december = 1 + 0.1 * np.exp(-(((doy - 350) / 10) ** 2))
    return december * (1 + amplitude[None, :] * np.exp(-(((doy - 212) / 30) ** 2)))


def _anchors(geom: Any, rng: np.random.Generator, n: int = 512) -> tuple[np.ndarray, float]:
    """Points at least _MARGIN_M inside a zone (lon, lat), and the noise factor allowed."""
    import shapely

    c = geom.centroid
    kx, ky = 111_320.0 * np.cos(np.radians(c.y)), 110_574.0
    local = shapely.transform(geom, lambda xy: (xy - [c.x, c.y]) * [kx, ky])
    inner, noise = local.buffer(-_MARGIN_M), 1.0
    if inner.is_empty:  # a zone too thin for GPS noise: pings at one inner point, no noise
        p = local.representative_point()
        return np.array([[p.x / kx + c.x, p.y / ky + c.y]] * n), 0.0
    x0, y0, x1, y1 = inner.bounds
    pts = np.empty((0, 2))
    while len(pts) < n:
        cand = rng.uniform([x0, y0], [x1, y1], size=(4 * n, 2))
        pts = np.vstack([pts, cand[shapely.contains_xy(inner, cand[:, 0], cand[:, 1])]])
    return pts[:n] / [kx, ky] + [c.x, c.y], noise


@dataclass
class _Plan:
    """Everything a day needs, fixed before the days are drawn (so any order gives the same)."""

    seed: int
    tz: str
    zones_lonlat: np.ndarray  # zones x anchors x 2
    noise: np.ndarray  # per zone, 0 or 1
    device_ids: np.ndarray
    devices: int
    pings_per_visit: float
    background: float
    faulty: float
    duplicates: float
    index: Any


def simulate(
    zones: Any,
    start: str,
    end: str,
    out: str | os.PathLike,
    *,
    seed: int = 0,
    devices: int = 40_000,
    scale: float = 1.0,
    drift: float = 0.4,
    pings_per_visit: float = 1.3,
    background: float = 1.5,
    faulty: float = 0.002,
    duplicates: float = 0.005,
    tourist_share: float = 0.1,
    tz: str = "Europe/Paris",
    workers: int | None = None,
    index: Any = None,
) -> Simulation:
    """Simulate a ping panel over `zones` from `start` to `end` (local days, inclusive).

    Parameters
    ----------
    zones : ZoneSet or path
        The zones; flows grow with ``population``.
    start, end : str
        First and last local day, e.g. ``"2020-01-01"``, ``"2021-01-31"``.
    out : path
        Directory for the pings (``day=YYYY-MM-DD/part-0.parquet``), the truth
        (``_truth_zones.parquet``, ``_truth_days.parquet``) and ``_manifest.json``.
    seed : int
        Same seed, same parameters: the same files, whatever `workers`.
    devices : int
        Active panel devices at the start, before the weekly rhythm: the app's
        penetration times the people it could reach. The day's active devices are
        ``devices * (1 + drift * years) * weekly``; zone passages scale with them.
    scale : float
        Multiplies zone flows: a 50,000-inhabitant town gets about ``200 * scale``
        passages on a normal day at the first day's panel size.
    drift : float
        Relative growth of the active panel over a year (0.4 = +40 %).
    pings_per_visit : float
        Mean pings per device visit to a zone-hour (at least 1).
    background : float
        Mean pings per active device and day outside the zones (at least 1, so that
        every active device has a valid ping).
    faulty, duplicates : float
        Share of extra faulty rows (one fault each, among ``nan_coordinates``,
        ``out_of_range``, ``null_island``, ``null_timestamp``, ``implausible_timestamp``,
        ``null_device``) and of exact duplicate rows.
    tourist_share : float
        Share of zones with ``tourist`` null that get a strong summer season.
    tz : str
        Time zone of local hours and days.
    workers : int, optional
        Threads drawing days (default: CPUs).
    index : ZoneIndex, optional
        A prebuilt index of `zones` (it keeps background pings out of the zones).

    Returns
    -------
    Simulation

    Notes
    -----
    Panel devices are a sample of people: the expected number of distinct devices
    visiting zone ``z`` in hour ``h`` of day ``d`` is ``base_z * level_z(d) *
    weekday(d) * season_z(d) * hour_share(h, d) * active(d) / devices`` with
    ``level_z = max(0.05, 1 - sensitivity_z * (1 - calendar(d)))``; it is rounded
    stochastically (minimal variance) and that many distinct active devices visit
    the zone-hour, each with ``1 + Poisson(pings_per_visit - 1)`` pings inside the zone
    (GPS noise never takes them out). So passages are exact device-hours, and
    dividing by the day's active devices removes the panel drift.

    Truth: ``resilience`` = mean expected normalised daily passages over the crisis
    window / mean over the baseline window; ``monthly_passages`` = mean expected
    normalised daily passages over the ranking window * 365.25 / 12, where
    normalised = passages * reference / active(d) and reference = the mean active
    devices over the baseline window (DESIGN §3). Windows are in ``meta``.
    """
    from footfall.index import ZoneIndex
    from footfall.zones import ZoneSet, read_zones

    if not isinstance(zones, ZoneSet):
        zones = read_zones(zones)
    days = pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq="D")
    if len(days) == 0:
        raise InputError(f"simulate: end {end!r} is before start {start!r}")
    if pings_per_visit < 1 or background < 1 or devices < 1:
        raise InputError("simulate: pings_per_visit and background must be >= 1, devices >= 1")
    out = Path(out)
    rng = np.random.default_rng([seed, 0])
    gdf = zones.gdf
    n = len(gdf)

    # Zones: base flow from population, sensitivity to the crisis, tourist season.
    pop = pd.to_numeric(gdf["population"], errors="coerce").fillna(50_000).to_numpy(float)
    base = 200.0 * scale * (pop / 50_000) ** 0.7 * rng.lognormal(0.0, 0.25, n)
    sensitivity = rng.uniform(0.35, 1.15, n)
    flag = gdf["tourist"].to_numpy(object)
    tourist = np.where(pd.isna(flag), rng.random(n) < tourist_share, flag == True)  # noqa: E712
    amplitude = np.where(tourist.astype(bool), rng.uniform(0.8, 1.8, n), 0.0)
    anchors, noise = zip(*(_anchors(g, rng) for g in gdf.geometry), strict=True)

    # Panel: active devices per day, drifting and weekly.
    years = (days - days[0]).days.to_numpy() / 365.25
    active = np.round(devices * (1 + drift * years) * _PANEL_WEEKDAY[days.day_of_week]).astype(int)
    ids = np.unique(rng.integers(10**12, 10**13, 2 * active.max()))[: active.max()]
    level, curfew = calendar(days)

    # Expected flows (days x zones), before the hour split.
    zone_level = np.maximum(0.05, 1 - sensitivity[None, :] * (1 - level[:, None]))
    daily = (
        base[None, :] * zone_level * _WEEKDAY[days.day_of_week][:, None] * _season(days, amplitude)
    )
    plan = _Plan(
        seed, tz, np.stack(anchors), np.array(noise), ids, devices,
        pings_per_visit, background, faulty, duplicates, index or ZoneIndex(zones),
    )  # fmt: skip

    out.mkdir(parents=True, exist_ok=True)
    jobs = [(i, day, active[i], daily[i], curfew[i]) for i, day in enumerate(days)]
    with ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:
        results = list(pool.map(lambda job: _simulate_day(plan, out, *job), jobs))
    hour_sums = np.array([r[0] for r in results])  # expected hour share sum per day
    planted = np.sum([r[1] for r in results], axis=0)
    rows = np.array([r[2] for r in results])

    expected = daily * hour_sums[:, None]  # expected passages per day at the first panel
    params = {"start": start, "end": end, "seed": seed, "devices": devices, "scale": scale,
              "drift": drift, "pings_per_visit": pings_per_visit, "background": background,
              "faulty": faulty, "duplicates": duplicates, "tourist_share": tourist_share,
              "tz": tz}  # fmt: skip
    meta, resilience, monthly = _truth(days, active, expected, params)
    truth_zones = pd.DataFrame(
        {
            "zone_id": gdf["zone_id"].to_numpy(object),
            "base": base,
            "sensitivity": sensitivity,
            "tourist": tourist.astype(bool),
            "seasonal_amplitude": amplitude,
            "resilience": resilience,
            "monthly_passages": monthly,
            "passages": planted.astype(np.int64),
        }
    )
    truth_days = pd.DataFrame(
        {"day": days, "active_devices": active, "level": level, "curfew": curfew, "rows": rows}
    )
    _write_truth(out, truth_zones, truth_days, meta)
    write_manifest(
        out / "_manifest.json",
        make_manifest(
            "simulate",
            inputs=[file_record(f) for f in zones.sources],
            zones={"hash": zones.hash, "n_zones": n, "sources": [str(s) for s in zones.sources]},
            parameters=meta["parameters"],
            outputs={"pings": str(out), "days": len(days), "rows": int(rows.sum())},
        ),
    )
    return Simulation(out, truth_zones, truth_days, meta, int(rows.sum()))


def _truth(
    days: pd.DatetimeIndex, active: np.ndarray, expected: np.ndarray, params: dict[str, Any]
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Truth metadata, and per zone the expected resilience and monthly passages."""
    windows = {k: [a, days[-1].strftime("%Y-%m-%d") if b == "end" else b]
               for k, (a, b) in WINDOWS.items()}  # fmt: skip

    def within(name: str) -> np.ndarray:
        a, b = windows[name]
        return np.asarray((days >= pd.Timestamp(a)) & (days <= pd.Timestamp(b)))

    base_days = within("baseline")
    reference = active[base_days].mean() if base_days.any() else float("nan")
    normalised = expected * reference / params["devices"]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = {k: normalised[within(k)].mean(axis=0) if within(k).any() else
                np.full(expected.shape[1], np.nan) for k in windows}  # fmt: skip
    meta = {
        "windows": windows,
        "reference_active_devices": float(reference) if base_days.any() else None,
        "units": (
            "monthly_passages: mean expected daily passages, normalised to the mean active "
            "devices of the baseline window (passages * reference / active_devices), "
            "times 365.25 / 12"
        ),
        "parameters": params,
    }
    return meta, mean["crisis"] / mean["baseline"], mean["ranking"] * 365.25 / 12


def _write_truth(out: Path, zones: pd.DataFrame, days: pd.DataFrame, meta: dict) -> None:
    for name, df in (("zones", zones), ("days", days)):
        table = pa.Table.from_pandas(df, preserve_index=False)
        table = table.replace_schema_metadata({"footfall": json.dumps(meta)})
        with atomic_path(out / f"_truth_{name}.parquet") as tmp:
            pq.write_table(table, tmp)


def read_truth(out: str | os.PathLike) -> Simulation:
    """Read the truth that :func:`simulate` wrote in `out`."""
    out = Path(out)
    try:
        zones = pq.read_table(out / "_truth_zones.parquet")
        days = pq.read_table(out / "_truth_days.parquet")
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"{out}: no readable simulation truth ({exc})") from exc
    meta = json.loads(zones.schema.metadata[b"footfall"])
    rows = int(days.column("rows").to_numpy().sum())
    return Simulation(out, zones.to_pandas(), days.to_pandas(), meta, rows)


def _simulate_day(
    plan: _Plan, out: Path, i: int, day: pd.Timestamp, n_active: int, daily: np.ndarray,
    curfew: int,
) -> tuple[float, np.ndarray, int]:  # fmt: skip
    """Draw and write one local day; return (hour share sum, passages per zone, rows)."""
    rng = np.random.default_rng([plan.seed, 1, i])
    # The UTC hours of the local day: 23, 24 or 25 of them across a DST change.
    t0 = pd.Timestamp(day, tz=plan.tz)
    t1 = pd.Timestamp(day + pd.Timedelta(days=1), tz=plan.tz)
    utc0 = int(t0.timestamp())
    n_hours = (int(t1.timestamp()) - utc0) // 3600
    local_hour = (pd.date_range(t0, periods=n_hours, freq="h").hour).to_numpy()
    share = _HOURS[local_hour]
    if curfew:
        share = np.where((local_hour >= curfew) | (local_hour < 6), share * _CURFEW_FLOW, share)

    active = plan.device_ids[rng.permutation(len(plan.device_ids))[:n_active]]
    # Expected visits per zone-hour, stochastically rounded: passages = exact device-hours.
    lam = daily[:, None] * share[None, :] * (n_active / plan.devices)
    k = np.floor(lam).astype(np.int64)
    k += rng.random(lam.shape) < lam - k
    k = np.minimum(k, n_active).ravel()
    total = int(k.sum())
    # Distinct devices in a zone-hour: a run of consecutive devices of a random permutation.
    cell = np.repeat(np.arange(k.size), k)
    within = np.arange(total) - np.repeat(np.cumsum(k) - k, k)
    start = rng.integers(0, n_active, k.size)
    visit_dev = active[(start[cell] + within) % n_active]
    visit_zone = cell // n_hours
    visit_hour = cell % n_hours

    per_visit = 1 + rng.poisson(plan.pings_per_visit - 1, total)
    row = np.repeat(np.arange(total), per_visit)
    zone = visit_zone[row]
    anchor = plan.zones_lonlat[zone, rng.integers(0, plan.zones_lonlat.shape[1], len(row))]
    acc = np.minimum(rng.lognormal(np.log(12.0), 0.5, len(row)), _MAX_ACCURACY_M)
    # Noise capped at 2 sigma per axis, so it stays within _MARGIN_M of the anchor.
    step = np.clip(rng.normal(0, 1, (len(row), 2)), -2, 2) * (acc * plan.noise[zone])[:, None]
    lat = anchor[:, 1] + step[:, 1] / 110_574.0
    lon = anchor[:, 0] + step[:, 0] / (111_320.0 * np.cos(np.radians(anchor[:, 1])))
    t = (utc0 + visit_hour[row] * 3600) * 1000 + rng.integers(0, 3_600_000, len(row))
    dev = visit_dev[row]

    # Background: every active device pings outside the zones at least once.
    nb = 1 + rng.poisson(plan.background - 1, n_active)
    bdev = np.repeat(active, nb)
    blon, blat = _outside(plan, rng, len(bdev))
    bt = utc0 * 1000 + rng.integers(0, n_hours * 3_600_000, len(bdev))
    bacc = np.minimum(rng.lognormal(np.log(20.0), 0.7, len(bdev)), 500.0)

    table = {
        "device_id": np.concatenate([dev, bdev]),
        "timestamp": np.concatenate([t, bt]),
        "lat": np.concatenate([lat, blat]),
        "lon": np.concatenate([lon, blon]),
        "accuracy_m": np.concatenate([acc, bacc]).astype(np.float32),
    }
    table, masks = _add_faults(plan, rng, table)
    order = np.argsort(table["timestamp"], kind="stable")
    arrays = []
    for f in PING_SCHEMA:
        mask = masks.get(f.name)
        arrays.append(
            pa.array(table[f.name][order], f.type, mask=mask if mask is None else mask[order])
        )
    part = out / f"day={day:%Y-%m-%d}"
    part.mkdir(exist_ok=True)
    with atomic_path(part / "part-0.parquet") as tmp:
        pq.write_table(pa.Table.from_arrays(arrays, schema=PING_SCHEMA), tmp)
    passages = np.bincount(visit_zone, minlength=len(daily))
    return float(share.sum()), passages, len(order)


def _outside(plan: _Plan, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Background points: 70 % anywhere in mainland France, 30 % 1-4 km from a zone."""
    x0, y0, x1, y1 = _FRANCE
    lon, lat = rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)
    near = rng.random(n) < 0.3
    centre = plan.zones_lonlat[rng.integers(0, len(plan.zones_lonlat), near.sum()), 0]
    angle, dist = rng.uniform(0, 2 * np.pi, near.sum()), rng.uniform(1000, 4000, near.sum())
    lat[near] = centre[:, 1] + dist * np.sin(angle) / 110_574.0
    lon[near] = centre[:, 0] + dist * np.cos(angle) / (111_320 * np.cos(np.radians(lat[near])))
    # Drop any that still fall in a zone onto a fresh uniform draw, until none does.
    inside = plan.index.assign(lon, lat) >= 0
    while inside.any():
        lon[inside], lat[inside] = (
            rng.uniform(x0, x1, inside.sum()),
            rng.uniform(y0, y1, inside.sum()),
        )
        inside[inside] = plan.index.assign(lon[inside], lat[inside]) >= 0
    return lon, lat


def _add_faults(
    plan: _Plan, rng: np.random.Generator, table: dict[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Append exact duplicates and faulty copies of random rows; return null masks."""
    n = len(table["timestamp"])
    dup = rng.integers(0, n, rng.binomial(n, plan.duplicates))
    bad = rng.integers(0, n, rng.binomial(n, plan.faulty))
    kind = rng.integers(0, len(_FAULTS), len(bad))
    out = {k: np.concatenate([v, v[dup], v[bad]]) for k, v in table.items()}
    tail = np.arange(n + len(dup), n + len(dup) + len(bad))
    masks = {"timestamp": np.zeros(len(out["timestamp"]), bool)}
    masks["device_id"] = masks["timestamp"].copy()
    for code, name in enumerate(_FAULTS):
        rows = tail[kind == code]
        if name == "nan_coordinates":
            out["lat"][rows] = np.nan
        elif name == "out_of_range":
            out["lon"][rows] += 360.0
        elif name == "null_island":
            out["lat"][rows], out["lon"][rows] = 0.0, 0.0
        elif name == "null_timestamp":
            masks["timestamp"][rows] = True
        elif name == "implausible_timestamp":
            out["timestamp"][rows] = rng.choice([0, 4_102_444_800_000], len(rows))  # 1970, 2100
        else:
            masks["device_id"][rows] = True
    return out, masks
