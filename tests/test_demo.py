"""``footfall demo`` end to end on a handful of real towns and a tiny panel."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

import footfall as ff
from footfall.cli import cli
from footfall.ranking import COLUMNS
from footfall.zones import ZoneSet

ZONES_DIR = Path(__file__).resolve().parents[1] / "zones"


def test_demo_runs_the_chain(tmp_path):
    gdf = ff.read_zones(ZONES_DIR).gdf
    towns = ["30007-centre", "56260-centre", "64102-centre", "86194-centre", "78646-centre"]
    zone_file = tmp_path / "zones.geojson"
    ZoneSet(gdf[gdf["zone_id"].isin(towns)]).gdf.drop(columns="source").to_file(
        zone_file, driver="GeoJSON"
    )
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--zones", str(zone_file), "--devices", "300"]
    result = CliRunner().invoke(cli, [*args, "--scale", "0.2"])
    assert result.exit_code == 0, result.output
    for step in ("1/4 simulating", "2/4 counting", "3/4 ranking", "4/4 writing the report", "done"):
        assert step in result.output
    # Versailles is excluded; with 300 devices the busiest hours hold fewer than 10
    # devices, so the figures are suppressed (<10) and the mean says over how many.
    assert re.search(r"Mean resilience of (\d of )?these 4 towns", result.output)
    assert "Alès" in result.output
    table = pd.read_csv(out / "palmares.csv", dtype={"insee": str})
    assert list(table.columns) == COLUMNS and len(table) == 4
    assert (out / "palmares.md").read_text().count("\n|") == 5
    assert (out / "report.html").stat().st_size > 0
    manifest = json.loads((out / "palmares.manifest.json").read_text())
    assert manifest["upstream"]["command"] == "count"
    # the demo's check line: recovered resilience against the planted truth
    points = float(re.search(r"within ([\d.]+) points", result.output).group(1))
    assert points < 3
    # privacy: no device id in what the demo prints or publishes
    devices = pd.read_parquet(out / "pings", columns=["device_id"])["device_id"].unique()
    found = set(re.findall(r"\d{13}", result.output + (out / "palmares.csv").read_text()))
    assert not found & {str(d) for d in devices}


def test_demo_without_zones_is_one_clear_line(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path), "--zones", "nowhere"])
    assert result.exit_code == 1
    assert "nowhere: no such file or directory" in result.output
    assert "Traceback" not in result.output
