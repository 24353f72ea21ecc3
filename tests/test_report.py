"""The report: HTML and Markdown from a palmarès on real zones and a hand-made hourly table."""

from __future__ import annotations

import functools
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import footfall as ff
from footfall.cli import cli
from footfall.errors import InputError
from footfall.manifest import beside
from footfall.tables import Replicates, attach_panel

ROOT = Path(__file__).resolve().parents[1]
TZ = "Europe/Paris"
DAYS = pd.date_range("2019-12-01", "2021-01-31", freq="D")

# zone_id -> (passages a day before the crisis, resilience); real zones of the committed set.
LEVELS = {
    "30007-centre": (3000, 0.81),  # Alès
    "64445-centre": (5200, 0.70),  # Pau
    "56260-centre": (4100, 0.92),  # Vannes
    "02408-centre": (900, 0.66),  # Laon
    "68066-centre": (4700, 0.74),  # Colmar
    "28085-centre": (2500, 0.88),  # Chartres
    "01053-centre": (2200, 0.77),  # Bourg-en-Bresse
    "50129-centre": (3300, 0.69),  # Cherbourg-en-Cotentin
    "2A004-centre": (2900, 0.95),  # Ajaccio
    "44184-centre": (3900, 0.72),  # Saint-Nazaire
    "89024-centre": (1500, 0.85),  # Auxerre
    "78646-centre": (8000, 0.60),  # Versailles: Île-de-France, excluded
    "97101-centre": (1200, 0.90),  # overseas, excluded
    "06027-centre": (3600, 0.80),  # Cagnes-sur-Mer: métropole continuity, excluded
}
#: Gap: one passage every fifth day, ~6 a month, below the suppression threshold.
TINY = "05061-centre"


@functools.cache
def real_zones() -> ff.ZoneSet:
    """The zones of LEVELS and TINY, from the committed zone set."""
    full = ff.read_zones(ROOT / "zones")
    keep = full.gdf["zone_id"].isin([*LEVELS, TINY])
    return ff.ZoneSet(full.gdf[keep].drop(columns="source"))


@pytest.fixture(scope="session")
def zones() -> ff.ZoneSet:
    return real_zones()


def make_hourly(seed: int = 0) -> pd.DataFrame:
    """One noon row a day per zone, Poisson around the planted level; constant panel."""
    rng = np.random.default_rng(seed)
    crisis = DAYS >= "2020-03-16"
    parts = []
    for zone, (before, kept) in LEVELS.items():
        parts.append((zone, rng.poisson(before * np.where(crisis, kept, 1.0))))
    # Auxerre's centre closed for works in December 2020: 5 passages a day.
    works = (DAYS >= "2020-12-01") & (DAYS <= "2020-12-31")
    parts[list(LEVELS).index("89024-centre")][1][works] = 5
    parts.append((TINY, np.where(np.arange(len(DAYS)) % 5 == 0, 1, 0)))
    frames = [pd.DataFrame({"zone_id": zone, "day": DAYS, "passages": n}) for zone, n in parts]
    df = pd.concat(frames, ignore_index=True).query("passages > 0")
    hourly = pd.DataFrame(
        {
            "zone_id": df["zone_id"].to_numpy(),
            "hour": pd.DatetimeIndex(df["day"] + pd.Timedelta(hours=12)).tz_localize(TZ),
            "passages": df["passages"].to_numpy("int64"),
            "pings": 3 * df["passages"].to_numpy("int64"),
        }
    )
    attach_panel(
        hourly,
        pd.DataFrame({"day": DAYS, "active_devices": np.full(len(DAYS), 20_000, dtype="int64")}),
    )
    return hourly


def with_replicates(hourly: pd.DataFrame, groups: int = 32, seed: int = 1) -> pd.DataFrame:
    """The hourly table with replicate tables, as a count with intervals writes them.

    Each zone-day's passages are split among `groups` device groups with shares drawn
    per zone and month (Dirichlet: devices differ, and keep their habits for a while),
    so the groups disagree as real ones do; the panel's devices are split evenly.
    """
    rng = np.random.default_rng(seed)
    day = hourly["hour"].dt.tz_localize(None).dt.normalize()
    frames = []
    for (zone, _month), part in hourly.groupby([hourly["zone_id"], day.dt.to_period("M")]):
        shares = rng.dirichlet(np.full(groups, 2.0))
        split = np.array([rng.multinomial(n, shares) for n in part["passages"]])
        d, g = np.nonzero(split)
        frames.append(pd.DataFrame({"zone_id": zone, "day": day[part.index].to_numpy()[d],
                                    "group": g.astype(np.int16),
                                    "passages": split[d, g].astype(np.int64)}))  # fmt: skip
    panel = ff.read_panel(hourly)
    per = np.array([rng.multinomial(n, np.full(groups, 1.0 / groups)) for n in
                    panel["active_devices"]])  # fmt: skip
    d, g = np.nonzero(per)
    out = hourly.copy()
    out.attrs = dict(hourly.attrs)
    out.attrs["replicates"] = Replicates(
        pd.concat(frames, ignore_index=True),
        pd.DataFrame(
            {
                "day": pd.DatetimeIndex(panel["day"]).tz_localize(None)[d]
                if pd.DatetimeIndex(panel["day"]).tz is not None
                else pd.DatetimeIndex(panel["day"])[d],
                "group": g.astype(np.int16),
                "active_devices": per[d, g].astype(np.int64),
            }
        ),  # fmt: skip
        groups,
    )
    return out


@pytest.fixture(scope="session")
def hourly() -> pd.DataFrame:
    return make_hourly()


@pytest.fixture(scope="session")
def html_report(tmp_path_factory, hourly, zones) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    assert ff.write_report(hourly, zones, out, top=None) == out
    return out


class _Tables(HTMLParser):
    """Cell texts of every <table id=...> of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._current: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and dict(attrs).get("id"):
            self._current = dict(attrs)["id"]
            self.tables[self._current] = []
        elif tag == "tr" and self._current:
            self.tables[self._current].append([])
        elif tag in ("td", "th") and self._current:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._current][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._current = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def tables_of(html: str) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def test_html_palmares_table_matches_the_library(html_report, hourly, zones):
    pal = ff.palmares(hourly, zones, top=None)
    rows = tables_of(html_report.read_text())["palmares-table"]
    assert rows[0] == [
        "Rank",
        "Town",
        "INSEE",
        "Region",
        "Population",
        "Monthly passages",
        "Resilience",
    ]
    body = rows[1:]
    assert len(body) == len(pal.table) == 12  # 15 zones, 3 excluded
    for row, ref in zip(body, pal.table.itertuples(index=False), strict=True):
        assert row[:4] == [str(ref.rank), ref.name, ref.insee, ref.region]
        assert row[4] == f"{ref.population:,}"
        if ref.zone_id == TINY:
            assert row[5:] == ["<10", "<10"]
        else:
            assert row[5] == f"{ref.monthly_passages:,.0f}"
            assert row[6] == f"{ref.resilience:.0%}"
    # The planted resilience comes back (Poisson noise on thousands a day is < 1 point).
    shown = {r[1]: int(r[6].split("%")[0]) for r in body if r[1] != "Gap"}
    assert shown["Alès"] == 81 and shown["Ajaccio"] == 95 and shown["Laon"] == 66


def test_html_is_self_contained(html_report):
    html = html_report.read_text()
    # No external script or stylesheet: Leaflet is inlined.
    assert not re.search(r"<script[^>]+src=", html)
    assert not re.search(r"<link[^>]+href=\"(?!data:)", html)
    # The only URLs left: SVG namespaces, and Leaflet's own attribution link and comments.
    hosts = set(re.findall(r"https?://([^/\"'\s)]+)", html))
    assert hosts <= {"www.w3.org", "leafletjs.com", "bugs.chromium.org", "bugzilla.mozilla.org"}
    assert "Leaflet 1.9.4" in html  # the vendored library's banner
    assert "url(images/" not in html  # Leaflet's CSS images are data URIs
    assert html.count("<svg") >= 3  # legend, monthly chart, resilience chart
    assert "L.tileLayer" not in html  # no basemap unless asked


def test_html_sections(html_report, hourly, zones):
    pal = ff.palmares(hourly, zones, top=None)
    html = html_report.read_text()
    tables = tables_of(html)
    excluded = {r[1]: r[4] for r in tables["excluded-table"][1:]}
    assert set(excluded) == {"78646-centre", "97101-centre", "06027-centre"}
    assert excluded["78646-centre"] == "in Île-de-France"
    assert "métropole" in excluded["06027-centre"]
    regions = tables["regions-table"][1:]
    assert len(regions) == len(pal.regions) == 12
    assert f"{pal.mean_resilience:.0%}" in html
    # Every zone of the set is on the map, with its popup fields; only eligible towns are
    # coloured by resilience.
    popups = {
        zid: json.loads(props)
        for zid, props in re.findall(r'"id": "([^"]+)", "properties": (\{[^{}]*\})', html)
    }
    assert set(popups) == set(zones.zone_ids)
    assert popups["78646-centre"]["status"] == "excluded: in Île-de-France"
    assert popups["78646-centre"]["color"] == popups[TINY]["color"] == "#8c8c8c"
    assert popups["30007-centre"]["status"].startswith("rank ")
    assert popups["30007-centre"]["color"] != "#8c8c8c"
    # Monthly table of the top 10: Gap (ranked last) is not in it; months are suppressed
    # where a town had fewer than 10 raw passages.
    monthly = tables["monthly-table"]
    assert len(monthly[0]) == 11 and "Gap" not in " ".join(monthly[0])
    manifest = json.loads(beside(html_report, "manifest", "json").read_text())
    assert manifest["command"] == "report"
    assert manifest["zones"]["hash"] == zones.hash
    assert manifest["parameters"]["min_count"] == 10
    assert manifest["versions"]["pandas"] == pd.__version__
    assert zones.hash[:16] in html


def test_small_counts_are_suppressed_everywhere(tmp_path, hourly, zones):
    out = ff.write_report(hourly, zones, tmp_path / "r.html", top=None, chart_top=12)
    html = out.read_text()
    tables = tables_of(html)
    monthly = tables["monthly-table"]
    gap = [r[-1] for r in monthly[1:]]
    assert monthly[0][-1] == "12. Gap" and gap and set(gap) == {"<10"}
    # The popup fields of Gap on the map are suppressed too.
    popups = re.findall(r'"id": "05061-centre", "properties": (\{[^{}]*\})', html)
    assert len(popups) == 2  # the zone's shape and its dot
    for popup in map(json.loads, popups):
        assert popup["passages"] == popup["resilience"] == "<10"
    # Zone-months: with a threshold of 1,000, Auxerre's December 2020 (155 passages) is
    # suppressed, its other months and its yearly figures are not.
    out = ff.write_report(
        hourly, zones, tmp_path / "m.html", top=None, chart_top=12, min_count=1000
    )
    tables = tables_of(out.read_text())
    auxerre = tables["monthly-table"][0].index("10. Auxerre")
    months = {r[0]: r[auxerre] for r in tables["monthly-table"][1:]}
    assert months["2020-12"] == "<1,000"
    assert all(v.replace(",", "").isdigit() for m, v in months.items() if m != "2020-12")
    row = next(r for r in tables["palmares-table"][1:] if r[1] == "Auxerre")
    assert row[5].replace(",", "").isdigit() and row[6].endswith("%")
    # The rule is on the busiest hour (distinct devices): with 2,000, Laon (at most ~1,000
    # devices in an hour) is suppressed, Alès (~3,000) is not.
    out = ff.write_report(hourly, zones, tmp_path / "k.html", top=None, min_count=2_000)
    rows = {r[1]: r for r in tables_of(out.read_text())["palmares-table"][1:]}
    assert rows["Laon"][5:] == ["<2,000", "<2,000"] and rows["Alès"][5] != "<2,000"


def test_markdown_report(tmp_path, hourly, zones):
    out = ff.write_report(hourly, zones, tmp_path / "palmares.md")
    text = out.read_text()
    for chart in ("map", "monthly", "resilience"):
        png = tmp_path / f"palmares-{chart}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({png.name})" in text
    assert "| 1 | Colmar |" not in text  # the table has the INSEE column
    assert re.search(r"^\| 1 \| Versailles", text, re.M) is None
    pal = ff.palmares(hourly, zones)
    first = pal.table.iloc[0]
    assert f"| 1 | {first['name']} | {first['insee']} |" in text
    assert "<10" in text and "## Excluded towns" in text
    manifest = json.loads(beside(out, "manifest", "json").read_text())
    assert manifest["outputs"]["monthly"].endswith("palmares-monthly.png")
    assert "The whole manifest: `palmares.md.manifest.json`." in text
    assert f"| zone set | {len(zones)} zones, hash {zones.hash[:16]}… |" in text


def test_bad_arguments(tmp_path, hourly, zones):
    with pytest.raises(InputError, match="format"):
        ff.write_report(hourly, zones, tmp_path / "r.pdf", format="pdf")
    with pytest.raises(InputError, match="min_count"):
        ff.write_report(hourly, zones, tmp_path / "r.html", min_count=-1)
    with pytest.raises(InputError, match="panel"):
        bare = hourly.copy()
        bare.attrs = {}
        ff.write_report(bare, zones, tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_tiles_are_optional(tmp_path, hourly, zones):
    url = "https://tile.example.org/{z}/{x}/{y}.png"
    html = ff.write_report(hourly, zones, tmp_path / "t.html", tiles=url).read_text()
    assert "L.tileLayer" in html and url in html and "tile.example.org" in html
    assert not re.search(r"<script[^>]+src=", html)


def write_hourly(hourly: pd.DataFrame, path: Path) -> Path:
    """Write an hourly table and its panel as `footfall count` lays them out."""
    return ff.write_hourly(hourly, path)


def test_cli(tmp_path, hourly, zones):
    path = write_hourly(hourly, tmp_path / "hourly.parquet")
    zones_file = tmp_path / "zones.geojson"
    zones.gdf.to_file(zones_file, driver="GeoJSON")
    runner = CliRunner()
    out = tmp_path / "r.md"
    result = runner.invoke(
        cli,
        [
            "report",
            str(path),
            "--zones",
            str(zones_file),
            "--out",
            str(out),
            "--top",
            "5",
            "--no-filter",
            "ile-de-france",
        ],
    )
    assert result.exit_code == 0, result.output
    assert out.exists() and "Versailles" in out.read_text().split("## Palmarès")[1].split("##")[0]
    manifest = json.loads(beside(out, "manifest", "json").read_text())
    assert manifest["inputs"][0]["path"] == str(path)
    assert manifest["parameters"]["top"] == 5


@pytest.mark.parametrize(
    "args, message",
    [
        (["--zones", "missing/"], "missing"),
        (["--format", "pdf"], "pdf"),
        (["--period", "2020-05-01"], "FIRST:LAST"),
        (["--period", "2025-01-01:2025-12-31"], "ranking period"),
    ],
)
def test_cli_bad_input_is_one_line(tmp_path, hourly, zones, args, message):
    path = write_hourly(hourly, tmp_path / "hourly.parquet")
    zones_file = tmp_path / "zones.geojson"
    zones.gdf.to_file(zones_file, driver="GeoJSON")
    argv = ["report", str(path), "--zones", str(zones_file), "--out", str(tmp_path / "r.html")]
    result = CliRunner().invoke(cli, argv + args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "r.html").exists()


@pytest.mark.slow
def test_whole_chain_publishes_no_device_id(tmp_path, zones):
    """simulate -> count -> report: no device identifier in any file the report writes."""
    small = ff.ZoneSet(zones.gdf[zones.gdf["zone_id"].isin(list(LEVELS)[:4])])
    sim = ff.simulate(small, "2020-01-01", "2020-04-30", tmp_path / "pings", seed=3, devices=600)
    ff.count_passages(sim.pings, small, out=tmp_path / "hourly.parquet")
    period = ("2020-03-01", "2020-04-30")  # four months are enough here, and fast
    hourly = tmp_path / "hourly.parquet"
    html = ff.write_report(hourly, small, tmp_path / "out" / "r.html", period=period)
    md = ff.write_report(hourly, small, tmp_path / "out" / "r.md", period=period)
    ids = pd.read_parquet(sim.pings, columns=["device_id"])["device_id"].dropna().unique()
    assert len(ids) > 500
    ids = {str(int(i)) for i in ids}
    written = sorted((tmp_path / "out").iterdir())
    assert {p.name for p in written} == {
        "r.html",
        "r.html.manifest.json",
        "r.md",
        "r.md.manifest.json",
        "r-map.png",
        "r-monthly.png",
        "r-intervals.png",
        "r-resilience.png",
    }
    for path in written:
        if path.suffix != ".png":
            numbers = set(re.findall(r"\d{6,}", path.read_text()))
            assert not numbers & ids, path
    # The report names the towns the palmarès ranks, with the count's manifest.
    pal = ff.palmares(ff.read_hourly(hourly), small, period=period)
    rows = tables_of(html.read_text())["palmares-table"][1:]
    assert [r[1] for r in rows] == list(pal.table["name"])
    manifest = json.loads(beside(md, "manifest", "json").read_text())
    assert manifest["upstream"]["command"] == "count"
    assert re.fullmatch(r"[0-9a-f]{64}", manifest["inputs"][0]["blake3"])


def test_names_are_escaped(tmp_path, hourly, zones):
    gdf = zones.gdf.copy()
    gdf.loc[gdf["zone_id"] == "30007-centre", "name"] = "<script>alert('Alès')</script>"
    html = ff.write_report(hourly, ff.ZoneSet(gdf), tmp_path / "x.html").read_text()
    assert "<script>alert(" not in html
    rows = tables_of(html)["palmares-table"][1:]
    assert "<script>alert('Alès')</script>" in [r[1] for r in rows]  # shown as text


def test_without_normalisation(tmp_path, hourly, zones):
    bare = hourly.copy()
    bare.attrs = {}
    out = ff.write_report(bare, zones, tmp_path / "raw.html", normalise=False, top=None)
    html = out.read_text()
    assert "raw counts, not normalised" in html
    pal = ff.palmares(bare, zones, normalise=False, top=None)
    rows = tables_of(html)["palmares-table"][1:]
    assert [r[5] for r in rows[:3]] == [f"{v:,.0f}" for v in pal.table["monthly_passages"][:3]]


def test_region_outline_matches_the_zone_set():
    """The vendored outline: the mainland regions of the zone set, around their zones."""
    import geopandas as gpd

    from footfall.report._outline import regions_geojson

    outline = gpd.GeoDataFrame.from_features(json.loads(regions_geojson()), crs="EPSG:4326")
    assert outline.geometry.is_valid.all()
    every = ff.read_zones(ROOT / "zones").gdf
    mainland = every[~every["department"].str.startswith("97")]
    assert set(outline["region"]) == set(mainland["region"])
    shapes = outline.set_index("region").to_crs("EPSG:2154").geometry
    points = mainland.to_crs("EPSG:2154").geometry.representative_point()
    # Within 2 km of its own region (the outline is simplified to 800 m).
    distance = [shapes[r].distance(p) for r, p in zip(mainland["region"], points, strict=True)]
    assert max(distance) < 2_000


def test_no_eligible_town(tmp_path, hourly, zones):
    html = ff.write_report(hourly, zones, tmp_path / "e.html", max_population=1).read_text()
    tables = tables_of(html)
    assert len(tables["palmares-table"]) == 1  # the header only
    assert len(tables["excluded-table"]) == 1 + len(zones)
    assert "n/a" in html  # no mean resilience
    assert (tmp_path / "e.html.manifest.json").exists()
    md = ff.write_report(hourly, zones, tmp_path / "e.md", max_population=1).read_text()
    assert "## Palmarès\n\n_None._" in md


def test_report_shows_intervals_and_the_cutoff(tmp_path, hourly, zones):
    sure = with_replicates(hourly)
    pal = ff.palmares(sure, zones, top=4)
    assert pal.table["rank_low"].notna().all()
    assert "cannot be told apart" in pal.cutoff_sentence() and "5th" in pal.cutoff_sentence()
    md = ff.write_report(sure, zones, tmp_path / "p.md", top=4).read_text()
    row = pal.table.iloc[0]
    assert pal.rank_text(row) in md and "(" in pal.rank_text(row)
    assert pal.cutoff_sentence() in md.split("## Map")[0]  # under the table
    assert (tmp_path / "p-intervals.png").stat().st_size > 10_000
    html = ff.write_report(sure, zones, tmp_path / "p.html", top=4).read_text()
    assert 'id="cutoff"' in html and 'id="intervals"' in html
    # the palmarès Markdown export carries the intervals too; the CSV their columns
    assert pal.rank_text(row) in pal.to_markdown()
    pal.write(tmp_path / "p.csv")
    csv = pd.read_csv(tmp_path / "p.csv")
    assert csv["rank_high"].notna().all() and csv["resilience_low"].notna().all()
    # every town ranked: there is no next place to tell apart from
    every = ff.palmares(sure, zones, top=None)
    assert every.cutoff_sentence() == ""
    # without replicate tables: no interval, no sentence, no error bar
    assert 'id="cutoff"' not in ff.write_report(hourly, zones, tmp_path / "n.html").read_text()
