"""Write the notebooks of this folder from the cells below (run it after editing them).

    .venv/bin/python notebooks/make_notebooks.py

The notebooks are saved without outputs; the test suite (tests/test_notebooks.py) runs
them top to bottom in a fresh kernel. Keep each one fast: small simulations, few zones.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

# The notebooks run with this folder as the working directory.
SETUP = """\
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

import footfall as ff

ZONES = Path("..") / "zones"  # the committed zone set
WORK = Path(tempfile.mkdtemp(prefix="footfall-"))  # everything this notebook writes
"""

QUICKSTART = [
    """\
# Quickstart: zones, points, passages

This notebook walks the first half of the chain on a small simulation:

1. load the city-centre zones,
2. assign points to zones (exactly, boundary included),
3. count hourly **passages** (distinct devices seen in a zone during an hour),
4. plot a day and a month,
5. draw an H3 heat-map of passages inside one zone.
""",
    SETUP,
    """\
## 1. Zones

The committed zone set holds one default city-centre zone per town of 20,000 to 99,999
inhabitants. We keep three towns to stay fast.
""",
    """\
every_zone = ff.read_zones(ZONES)
towns = ["30007-centre", "64445-centre", "56260-centre"]  # Alès, Pau, Vannes
zones = ff.ZoneSet(every_zone.gdf[every_zone.gdf["zone_id"].isin(towns)])
print(every_zone)
zones.gdf[["zone_id", "name", "population", "region", "geometry"]]
""",
    """\
## 2. Assigning points to zones

`ZoneIndex` covers each zone with H3 cells and an R-tree; `assign` gives each point the
row of its zone in `zones.gdf`, or -1. A point on a boundary is inside. We check it
against shapely on points scattered around Alès' centre.
""",
    """\
import numpy as np
import shapely

index = ff.ZoneIndex(zones)
ales = zones.gdf.set_index("zone_id").geometry["30007-centre"]
rng = np.random.default_rng(0)
lon = ales.centroid.x + rng.normal(0, 0.01, 20_000)
lat = ales.centroid.y + rng.normal(0, 0.01, 20_000)
rows = index.assign(lon, lat)

reference = np.full(len(lon), -1)
for row, geom in enumerate(zones.gdf.geometry):
    reference[shapely.covers(geom, shapely.points(lon, lat))] = row
assert (rows == reference).all()
print(index)
print(f"{(rows >= 0).sum():,} of {len(rows):,} points are in a zone, as shapely says")
""",
    """\
## 3. A small simulation, counted

`ff.simulate` writes pings in the input schema (Parquet, one folder per day) with the
truth it planted; `ff.count_passages` streams them into the hourly table, with the panel
(active devices per day) and a run manifest beside it.
""",
    """\
sim = ff.simulate(zones, "2020-02-01", "2020-03-31", WORK / "pings", seed=1, devices=1_500)
hourly = ff.count_passages(sim.pings, zones, out=WORK / "hourly.parquet")
accounting = hourly.attrs["manifest"]["accounting"]
print(f"{sim.rows:,} ping rows; accounting: {accounting}")
hourly.head()
""",
    """\
The same count scales out with Dask: `engine="dask"` runs the same kernel on a cluster,
here a LocalCluster of two worker processes (pass `client=` a `distributed.Client` or a
scheduler address for a real one). The result is the same, row for row.
""",
    """\
from footfall.testing import assert_hourly_equal

on_dask = ff.count_passages(sim.pings, zones, engine="dask", workers=2)
assert_hourly_equal(on_dask, hourly, check_panel=True)
print(f"Dask: {len(on_dask):,} zone-hours, as the local engine")
""",
    """\
## 4. A day and a month

Passages of one day, hour by hour (local time), then the daily passages of March 2020,
normalised by the panel size: the first lockdown starts on 17 March.
""",
    """\
day = hourly[
    (hourly["zone_id"] == "30007-centre")
    & (hourly["hour"].dt.strftime("%Y-%m-%d") == "2020-02-14")
]
fig, ax = plt.subplots(figsize=(8, 3))
ax.bar(day["hour"].dt.hour, day["passages"], color="#1f6f8b")
ax.set(xlabel="local hour", ylabel="passages", title="Alès, Friday 14 February 2020")
plt.show()
""",
    """\
daily = ff.daily_passages(hourly)  # normalised by the panel, one column per zone
names = zones.gdf.set_index("zone_id")["name"]
march = daily.loc["2020-03-01":"2020-03-31"].rename(columns=names)
ax = march.plot(figsize=(8, 3), title="Daily passages, March 2020 (normalised)")
ax.axvline(pd.Timestamp("2020-03-17"), color="#c0392b", ls=":")
plt.show()
""",
    """\
## 5. An H3 heat-map inside one zone

The hourly table has one row per zone-hour. To see *where* in a zone people pass, we
read the pings of a few days, keep those in Alès' zone and count passages per H3 cell
(at the index resolution) and hour, then draw the cells. Device identifiers stay in
this process: only counts are shown.
""",
    """\
import geopandas as gpd
import h3

days = [f"day=2020-02-{d:02d}" for d in range(10, 15)]
pings = pd.concat(pd.read_parquet(sim.pings / d) for d in days)
in_ales = index.assign(pings["lon"], pings["lat"]) == zones.zone_ids.get_loc("30007-centre")
pings = pings[in_ales]
pings["cell"] = np.vectorize(h3.latlng_to_cell)(pings["lat"], pings["lon"], index.resolution)
pings["hour"] = pings["timestamp"].dt.floor("h")
per_cell = pings.drop_duplicates(["cell", "hour", "device_id"]).groupby("cell").size()

cells = gpd.GeoDataFrame(
    {"passages": per_cell.to_numpy()},
    geometry=[shapely.Polygon([(x, y) for y, x in h3.cell_to_boundary(c)]) for c in per_cell.index],
    crs="EPSG:4326",
)
ax = cells.plot(column="passages", cmap="magma_r", legend=True, figsize=(6, 6))
gpd.GeoSeries([ales], crs="EPSG:4326").boundary.plot(ax=ax, color="black", lw=1)
ax.set_title(f"Alès, 10-14 Feb 2020: passages per H3 cell (res. {index.resolution})", fontsize=10)
ax.set_axis_off()
plt.show()
""",
]

ZONE_EDITING = [
    """\
# Editing a zone

Zones are GeoJSON files edited by analysts. This notebook takes a working copy of three
towns and goes through the loop an analyst follows:

1. **validate** the files, and **fix** what a GIS export broke,
2. **edit** a zone: move its boundary,
3. **diff** the new version against the previous one,
4. **recount only what changed**, and check it equals a full recount,
5. see the **effect on that town's figures**.
""",
    SETUP,
    """\
import json

from footfall.testing import assert_hourly_equal

every_zone = ff.read_zones(ZONES)
towns = ["30007-centre", "64445-centre", "56260-centre"]  # Alès, Pau, Vannes
before = ff.ZoneSet(every_zone.gdf[every_zone.gdf["zone_id"].isin(towns)])
work = WORK / "zones"
ff.write_zones(before, work)
sorted(p.name for p in work.iterdir())
""",
    """\
## 1. Validate and fix

A round trip through a GIS tool often leaves clockwise rings, extra decimals and an
unclosed ring. We damage Pau's file that way, validate, fix in place, validate again.
""",
    """\
pau = work / "64445-pau.geojson"
doc = json.loads(pau.read_text())
ring = doc["features"][0]["geometry"]["coordinates"][0]
ring = [[x + 1e-9, y] for x, y in ring[::-1]][:-1]  # clockwise, 9 decimals, not closed
doc["features"][0]["geometry"]["coordinates"][0] = ring
pau.write_text(json.dumps(doc))

report = ff.validate_zones(work)
print(report.summary())
for problem in report.problems:
    print(" ", problem)
""",
    """\
fixed = ff.fix_zones(work)
print(fixed.summary())
print(ff.validate_zones(work).summary())
""",
    """\
## 2. Move a boundary

The analyst decides Alès' centre stops 300 m short of the current line: the boundary
moves inwards by 300 m (a negative buffer in metres, in Lambert-93), and the file is
written back with the canonical writer (small, stable diffs).
""",
    """\
zones_old = ff.read_zones(work)
gdf = zones_old.gdf.drop(columns="source")
is_ales = gdf["zone_id"] == "30007-centre"
shrunk = gdf[is_ales].to_crs("EPSG:2154").buffer(-300).to_crs("EPSG:4326")
edited = gdf.copy()
edited.loc[is_ales, "geometry"] = shrunk.to_numpy()
ff.write_zones(edited[is_ales], work)  # rewrites Alès' file only
zones_new = ff.read_zones(work)

ax = zones_old.gdf[is_ales].boundary.plot(color="grey", figsize=(5, 5))
zones_new.gdf[is_ales].boundary.plot(ax=ax, color="#c0392b")
ax.set_title("Alès: old boundary (grey), new (red)")
ax.set_axis_off()
plt.show()
""",
    """\
## 3. Diff against the previous version

`diff_zones` matches zones on `zone_id` and measures each change in metres.
""",
    """\
diff = ff.diff_zones(zones_old, zones_new)
print(diff.summary())
for change in diff.changed:
    print(change)
changed = [c.zone_id for c in diff.changed] + diff.added
""",
    """\
## 4. Recount only what changed

Passages of a zone depend only on that zone, and the panel (active devices per day)
does not depend on the zones at all. So after an edit only the changed zones need
counting again; their rows replace the old ones. We check the result equals a full
recount on the new set.
""",
    """\
sim = ff.simulate(zones_old, "2020-02-01", "2020-02-29", WORK / "pings", seed=2, devices=1_500)
hourly_old = ff.count_passages(sim.pings, zones_old)

only_changed = ff.ZoneSet(zones_new.gdf[zones_new.gdf["zone_id"].isin(changed)])
recounted = ff.count_passages(sim.pings, only_changed)
panel = ff.read_panel(hourly_old)
pd.testing.assert_frame_equal(ff.read_panel(recounted), panel)  # the panel ignores zones

kept = hourly_old[~hourly_old["zone_id"].isin(changed)]
hourly_new = pd.concat([kept, recounted], ignore_index=True)
hourly_new.attrs["panel"] = hourly_old.attrs["panel"]  # the two runs' manifests differ

assert_hourly_equal(hourly_new, ff.count_passages(sim.pings, zones_new))
print(f"recounted {len(changed)} zone(s) of {len(zones_new)}: same table as a full recount")
""",
    """\
## 5. The effect on Alès' figures

Fewer pings fall inside the smaller zone: Alès' passages drop, the other towns do not
move.
""",
    """\
names = zones_new.gdf.set_index("zone_id")["name"]
old = ff.daily_passages(hourly_old).sum().rename("before")
new = ff.daily_passages(hourly_new).sum().rename("after")
effect = pd.concat([old, new], axis=1).rename(index=names)
effect["change"] = (effect["after"] / effect["before"] - 1).map("{:+.1%}".format)
effect.round(0)
""",
    """\
area = {c.zone_id: c.area_change_pct for c in diff.changed}["30007-centre"]
print(f"Alès: area {area:+.1f} %, passages {effect.loc['Alès', 'change']}")
assert effect.loc["Alès", "after"] < effect.loc["Alès", "before"]
assert (effect.drop("Alès")["after"] == effect.drop("Alès")["before"]).all()
""",
]

PALMARES = [
    """\
# The palmarès, step by step

The 2021 ranking of the most dynamic town centres of French medium towns published a
few facts, which this notebook puts side by side with what the method gives:

| published fact | value |
|---|---|
| Alès, mean monthly passages (March 2020 - January 2021) | 1.13 M |
| Alès, share of the pre-crisis flow kept (resilience) | 81 % |
| Alès, rank | 25th |
| mean resilience of the top 30 | 76 % |
| regions represented in the top 30 | 10 |

No public ping panel exists, so the method runs here on a **simulated** panel over a
sample of the real zones: the steps and the code are those of a real run, the figures
are the simulation's, and we compare them with the truth the simulator planted.
""",
    SETUP,
    """\
## 1. Zones and a simulated panel, January 2020 - January 2021

One zone in twelve of the committed set, plus Alès; the panel grows by 40 % a year, as
app panels did, which is why passages must be normalised.
""",
    """\
every_zone = ff.read_zones(ZONES)
sample = every_zone.gdf.iloc[::12]["zone_id"].tolist() + ["30007-centre"]
zones = ff.ZoneSet(every_zone.gdf[every_zone.gdf["zone_id"].isin(sample)])
sim = ff.simulate(
    zones, "2020-01-01", "2021-01-31", WORK / "pings", seed=2021, devices=1_000, scale=0.3
)
print(f"{len(zones)} towns, {sim.rows:,} ping rows")
""",
    """\
## 2. Hourly passages and the panel

A passage is a device seen in a zone during an hour; the panel table counts the devices
active each day, anywhere.
""",
    """\
hourly = ff.count_passages(sim.pings, zones, out=WORK / "hourly.parquet")
panel = ff.read_panel(hourly).set_index("day")["active_devices"]
ax = panel.plot(figsize=(8, 2.5), title="Active panel devices per day")
ax.set_ylim(bottom=0)
plt.show()
""",
    """\
## 3. Normalisation, daily passages

Each day's passages are scaled by (reference panel size / that day's active devices);
the reference is the mean panel over the baseline window (1 January - 15 March 2020).
""",
    """\
raw = ff.daily_passages(hourly, normalise=False)
daily = ff.daily_passages(hourly)
fig, ax = plt.subplots(figsize=(8, 3))
raw["30007-centre"].plot(ax=ax, alpha=0.5, label="raw")
daily["30007-centre"].plot(ax=ax, label="normalised")
ax.set_title("Alès: daily passages")
ax.legend()
plt.show()
""",
    """\
## 4. Mean monthly passages and resilience

* ranking figure: mean daily passages from March 2020 to January 2021, times 365.25 / 12;
* resilience: mean daily passages since 16 March 2020 over those of 1 January - 15 March
  2020.
""",
    """\
monthly = ff.monthly_passages(daily)
res = ff.resilience(daily)
measured = pd.DataFrame({"monthly_passages": monthly, "resilience": res["resilience"]})
truth = sim.truth_zones.set_index("zone_id")[["monthly_passages", "resilience"]]
check = measured.join(truth.add_suffix("_planted"))
check.head()
""",
    """\
gap = (check["resilience"] - check["resilience_planted"]).abs()
print(f"resilience: measured vs planted, largest gap {gap.max():.3f}")
assert gap.max() < 0.05
""",
    """\
## 5. Eligibility and the palmarès

Eligible: under 100,000 inhabitants, outside Île-de-France, not overseas, not in urban
continuity with a métropole, not a tourist town with a strong summer season. The
palmarès ranks the eligible towns by mean monthly passages.
""",
    """\
pal = ff.palmares(hourly, zones, top=30)
print(pal.summary())
pal.table.head(10)
""",
    """\
pal.excluded["reasons"].str.split("; ").explode().value_counts()
""",
    """\
## 6. Side by side

The published facts, and the same figures computed by the method on this simulation.
The simulated flows are scaled to a small panel, so absolute passages are not
comparable; the rank is among the towns of the sample.
""",
    """\
ales = pal.scores.loc["30007-centre"]
ales_rank = pal.table.set_index("zone_id")["rank"].get("30007-centre")
side_by_side = pd.DataFrame(
    {
        "published": ["1.13 M", "81 %", "25th (of 30)", "76 %", "10"],
        "this simulation": [
            f"{ales['monthly_passages']:,.0f}",
            f"{ales['resilience']:.0%}",
            f"{ales_rank} (of {len(pal.table)})" if ales_rank else "not ranked",
            f"{pal.mean_resilience:.0%}",
            f"{len(pal.regions)}",
        ],
    },
    index=[
        "Alès: mean monthly passages",
        "Alès: resilience",
        "Alès: rank",
        f"mean resilience of the top {len(pal.table)}",
        f"regions in the top {len(pal.table)}",
    ],
)
side_by_side
""",
    """\
## 7. How sure are the figures: 95 % intervals

The panel is a sample of devices: another panel of the same town would give other
passages, another resilience, another rank. footfall gives every figure its 95 %
interval, from the same single pass over the pings:

* **device groups.** The count splits devices into 32 groups by their keyed pseudonym
  (a random split that no one can steer) and writes, beside the exact hourly table, each
  group's passages per zone and day and its active devices per day
  (`hourly.replicates.parquet`). Summed over the groups they are the exact figures.
* **bootstrap.** 400 replicates each draw 32 groups with replacement; a replicate's
  figures are computed as the point ones (normalised by the replicate's own panel). The
  spread is widened by the usual small-sample correction for 32 groups
  (`sqrt(32/31) x t(31) / 1.96` = 1.057), and the 2.5 and 97.5 percentiles are the
  interval. Towns are ranked again in every replicate: that gives the rank interval.
* **what it means.** Drawn again and again, panels give intervals that hold the whole
  population's figure 95 times in 100 (checked by simulation: 0.95 overall). It says
  nothing of biases every panel shares (who carries which apps).
* **ties.** Two neighbours in the table whose rank intervals overlap cannot be told apart;
  `pal.ties` lists them, and the summary says whether the 30th can be told apart from the
  31st.
""",
    """\
cols = ["rank", "name", "monthly_passages", "monthly_passages_low", "monthly_passages_high",
        "resilience", "resilience_low", "resilience_high", "rank_low", "rank_high"]
shown = pal.table[cols].head(10).copy()
shown["rank (95 %)"] = [pal.rank_text(r) for _, r in pal.table.head(10).iterrows()]
shown
""",
    """\
assert (pal.table["rank_low"] <= pal.table["rank"]).all()
assert (pal.table["rank"] <= pal.table["rank_high"]).all()
print(pal.cutoff_sentence() or "(no interval, or no next place)")
pal.ties.head(10)
""",
    """\
## 8. The report

`ff.write_report` writes the palmarès as one self-contained HTML page (map, charts,
excluded towns, run manifest) or as Markdown with PNG charts.
""",
    """\
html = ff.write_report(WORK / "hourly.parquet", zones, WORK / "report.html")
md = ff.write_report(WORK / "hourly.parquet", zones, WORK / "report.md")
print(html, f"{html.stat().st_size / 1e6:.1f} MB")
print(md.read_text()[:600])
""",
    """\
## 9. What drives dynamism: the radiographie

The 2021 palmarès came with a "radiographie" of its top 30: a summer-2020 rebound,
people of the métropoles spending lockdowns in medium towns, commercial vacancy,
population growth. `ff.drivers` puts **every** eligible town (not only the top 30, so the
figures are not cut by the selection) beside indicators and gives, for each indicator
and target, Spearman's rho with a 95 % bootstrap interval over towns, and the top N
against the rest.

**Simulated data can only show the method, not the 2021 findings.** The simulator
plants each town's resilience without regard to its population, density or distance to
a métropole, so whatever comes out here is chance or construction, never evidence about
French towns. Run it on a real panel to test the published claims.

Built-in indicators: population, density (population / commune area), distance to the
nearest métropole, zone area, region, and the method's own figures (summer 2020,
November and December 2020 over the baseline). Your own indicators come as a CSV keyed
by `insee`; the one below is invented (random), only to show the format.
""",
    """\
import numpy as np

eligible = pal.scores[pal.scores["eligible"]]
invented = pd.DataFrame(
    {
        "insee": eligible["insee"],
        "mayor_years": np.random.default_rng(0).integers(1, 25, len(eligible)),
    }
)
invented.to_csv(WORK / "towns.csv", index=False)

radio = ff.drivers(pal, zones, indicators=WORK / "towns.csv")
print(radio.headline)
radio.strongest("resilience", 6)[["indicator", "n", "rho", "rho_low", "rho_high", "note"]]
""",
    """\
radio.table.query("target == 'monthly_passages'")[
    ["indicator", "n", "rho", "rho_low", "rho_high", "top_median", "rest_median"]
]
""",
    """\
from IPython.display import Image

from footfall.radiography import scatter_png

Image(scatter_png(radio, "metro_distance_km", "resilience"))
""",
    """\
page = radio.write(WORK / "drivers.html")
print(page, "- tables, notes and scatter plots in one page;", *radio.notes, sep="\n")
""",
]


def is_markdown(source: str) -> bool:
    """Tell a Markdown cell from code: text that is not Python, or headings only."""
    if all(line.startswith("#") for line in source.splitlines() if line.strip()):
        return True
    try:
        compile(source, "<cell>", "exec")
    except SyntaxError:
        return True
    return False


def notebook(cells: list[str]) -> nbformat.NotebookNode:
    """Build a notebook without outputs (see :func:`is_markdown` for the cell types)."""
    nb = new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    for source in cells:
        source = source.strip("\n")
        cell = new_markdown_cell if is_markdown(source) else new_code_cell
        nb.cells.append(cell(source))
    return nb


NOTEBOOKS = {
    "01-quickstart.ipynb": QUICKSTART,
    "02-zone-editing.ipynb": ZONE_EDITING,
    "03-palmares.ipynb": PALMARES,
}


def main() -> None:
    """Write every notebook of :data:`NOTEBOOKS` beside this script."""
    for name, cells in NOTEBOOKS.items():
        nb = notebook(cells)
        nbformat.validate(nb)
        # Fixed cell ids: regenerating an unchanged notebook gives the same file.
        for i, cell in enumerate(nb.cells):
            cell["id"] = f"cell-{i:02d}"
        nbformat.write(nb, HERE / name)
        print(f"wrote {HERE / name} ({len(nb.cells)} cells)")


if __name__ == "__main__":
    main()
