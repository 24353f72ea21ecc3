"""``footfall bench`` runs end to end at a small size and its methods agree."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from footfall.bench import MIXES, SECTIONS, make_points, run_bench
from footfall.bench.users import ID_FLAVOURS
from footfall.cli import cli
from footfall.errors import InputError

ZONES_DIR = Path(__file__).resolve().parents[1] / "zones"
needs_zones = pytest.mark.skipif(
    not any(ZONES_DIR.glob("*.geojson")), reason="no zone set in zones/"
)


@needs_zones
def test_cli_bench_small_json():
    # the whole benchmark, every section, at a small size
    result = CliRunner().invoke(
        cli, ["bench", "--zones", str(ZONES_DIR), "--points", "20000", "--repeat", "1", "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert {r["section"] for r in doc["rows"]} == set(SECTIONS)
    rows = [r for r in doc["rows"] if r["section"] == "assign"]
    methods = {r["method"] for r in rows}
    assert methods == {
        "footfall ZoneIndex",
        "geopandas sjoin",
        "shapely STRtree",
        "DuckDB spatial",
        "h3 vectorised",
    }
    assert {r["mix"] for r in rows} == set(MIXES)
    ours = [r for r in doc["rows"] if r["section"] in ("assign", "h3", "exact")]
    # every method agrees with ours, ours with shapely covers, our H3 with h3-py
    assert all(r["mismatches"] == 0 for r in ours)
    assert all(r["points"] == 20000 for r in ours if r["section"] != "exact")
    assert all(r["points_per_s"] > 0 for r in ours)
    h3_rows = [r for r in ours if r["section"] == "h3"]
    assert {r["method"] for r in h3_rows} >= {f"latlng_to_cell r{doc['index']['resolution']}"}
    exact = {r["method"]: r for r in ours if r["section"] == "exact"}
    assert exact["edges +1e-09 deg"]["inside_share"] == 1.0
    assert exact["edges -1e-09 deg"]["inside_share"] == 0.0
    assert exact["zone vertices"]["points"] > 10_000
    assert doc["index"]["megabytes"] < 200 and doc["index"]["build_seconds"] > 0
    assert doc["peak_rss_mb"] > 0 and doc["machine"]["cores"] >= 1
    # e2e as users feel it (issue 15): CLI, in-process, read floor, DuckDB, id flavours
    users = {(r["mix"], r["method"]): r for r in doc["rows"] if r["mix"] in ID_FLAVOURS}
    assert {m for _, m in users} == {
        "pyarrow read floor", "footfall count CLI", "count_passages", "DuckDB spatial",
        "DuckDB spatial, fresh process",
    }  # fmt: skip
    assert {f for f, _ in users} == set(ID_FLAVOURS)
    assert users[("int", "DuckDB spatial")]["mismatches"] == 0  # both DuckDB runs agree with us
    cli_row = users[("int", "footfall count CLI")]
    duck = users[("int", "DuckDB spatial, fresh process")]  # a whole job against our CLI
    assert duck["ours_vs_method"] == pytest.approx(duck["seconds"] / cli_row["seconds"])
    assert cli_row["ours_vs_method"] == pytest.approx(
        cli_row["seconds"] / users[("int", "pyarrow read floor")]["seconds"]
    )
    assert users[("uuid", "count_passages")]["ours_vs_method"] > 0
    assert len(cli_row["load_average"]) == 2


@needs_zones
def test_cli_bench_text_and_subsampled_peers():
    result = CliRunner().invoke(
        cli,
        ["bench", "--zones", str(ZONES_DIR), "--points", "3000", "--peer-points", "1000",
         "--repeat", "1", "-q", "--section", "assign"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "footfall ZoneIndex" in result.output and "DuckDB spatial" in result.output
    assert "on the first 1,000 points" in result.output
    assert "H3 resolution" in result.output and "latlng_to_cell r" not in result.output


@needs_zones
def test_cli_bench_quick_keeps_explicit_options():
    result = CliRunner().invoke(
        cli, ["bench", "--zones", str(ZONES_DIR), "--quick", "--points", "3000", "--section",
              "h3", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["points_per_mix"] == 3000  # given explicitly: --quick's 1 M does not apply
    assert {r["section"] for r in doc["rows"]} == {"h3"}


def test_cli_bench_bad_input_is_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["bench", "--zones", str(tmp_path / "nowhere")])
    assert result.exit_code != 0
    assert "Traceback" not in result.output and "nowhere" in result.output
    result = CliRunner().invoke(cli, ["bench", "--points", "0"])
    assert result.exit_code != 0 and "--points" in result.output


@needs_zones
def test_unknown_section_is_refused():
    with pytest.raises(InputError, match="unknown benchmark section"):
        run_bench(ZONES_DIR, points=10, sections=["nope"])
    assert list(SECTIONS)[:3] == ["assign", "h3", "exact"]


@needs_zones
def test_mixes_are_reproducible_and_shaped():
    from footfall import read_zones

    zones = read_zones(ZONES_DIR)
    a = make_points(zones, 50_000, 0.4)
    b = make_points(zones, 50_000, 0.4)
    np.testing.assert_array_equal(a[0], b[0])
    lon, lat = a
    # 60 % uniform over the mainland box, so at least that share lies in it
    in_box = (lon > -5.2) & (lon < 8.3) & (lat > 42.3) & (lat < 51.1)
    assert in_box.mean() > 0.6
