"""The ``footfall zones`` commands through click's CliRunner."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from common import ALES, collection, feature, polygon, square, write_json
from footfall.cli import cli


def run(*args):
    result = CliRunner().invoke(cli, ["zones", *map(str, args)])
    # Bad input is a clear message, never a traceback.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


def test_build_then_validate(tmp_path):
    out = tmp_path / "zones"
    result = run("build", "--out", out, "--insee", "30007", "--insee", "81004")
    assert result.exit_code == 0
    assert "2 zones: 2 written, 0 unchanged, 0 kept" in result.output
    (out / "30007-ales.geojson").write_text(
        (out / "30007-ales.geojson").read_text().replace("40219", "40220")
    )
    result = run("build", "--out", out, "--insee", "30007", "--insee", "81004")
    assert "kept (differs from its built form" in result.output
    assert "30007-ales.geojson" in result.output
    result = run("validate", out)
    assert result.exit_code == 0
    assert result.output.strip() == "2 zones in 2 files: 0 errors, 0 warnings"


def test_validate_errors_exit_1_and_json(tmp_path):
    bad = polygon(square(*ALES, 500)[:-1])
    path = write_json(tmp_path / "z.geojson", collection(feature(bad, population="many")))
    result = run("validate", path)
    assert result.exit_code == 1
    assert "30007-centre: error [ring-unclosed]" in result.output
    assert "error [property-type]" in result.output
    data = json.loads(run("validate", path, "--json").output)
    assert data["errors"] == 2


def test_validate_warnings_exit_0_unless_strict(tmp_path):
    path = write_json(
        tmp_path / "z.geojson", collection(feature(polygon(square(*ALES, 500)[::-1])))
    )
    assert run("validate", path).exit_code == 0
    assert run("validate", path, "--strict").exit_code == 1


def test_fix_then_validate(data_dir, tmp_path):
    shutil.copy(data_dir / "zones" / "ales-lambert93.geojson", tmp_path)
    path = tmp_path / "ales-lambert93.geojson"
    result = run("fix", path)
    assert result.exit_code == 1 and "NOT FIXED" in result.output
    result = run("fix", path, "--from-crs", "EPSG:2154")
    assert result.exit_code == 0
    assert "30007-centre: reprojected from EPSG:2154" in result.output
    assert run("validate", path).exit_code == 0


def test_diff(repo_root, tmp_path):
    shutil.copy(repo_root / "zones" / "30007-ales.geojson", tmp_path)
    path = tmp_path / "30007-ales.geojson"
    path.write_text(path.read_text().replace('"tourist": null', '"tourist": false'))
    result = run("diff", repo_root / "zones" / "30007-ales.geojson", path)
    assert result.exit_code == 0
    assert "~ 30007-centre: tourist: None -> False" in result.output
    assert run("diff", path, path, "--exit-code").exit_code == 0
    assert (
        run("diff", repo_root / "zones" / "30007-ales.geojson", path, "--exit-code").exit_code == 1
    )
    data = json.loads(run("diff", path, repo_root / "zones", "--json").output)
    assert data["changed"][0]["properties"] == {"tourist": [False, None]}


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "{missing}"],
        ["fix", "{missing}"],
        ["diff", "{missing}", "{missing}"],
        ["diff", "{bad}", "{bad}"],
        ["fix", "{bad}", "--from-crs", "EPSG:nope"],
        ["build", "--out", "{tmp}", "--insee", "00000"],
    ],
)
def test_bad_input_is_one_line_and_nonzero(tmp_path, args):
    (tmp_path / "bad.geojson").write_text("{")
    paths = {"missing": tmp_path / "nope", "bad": tmp_path / "bad.geojson", "tmp": tmp_path}
    result = run(*[a.format(**paths) for a in args])
    assert result.exit_code != 0
    assert result.output.startswith("Error: ")
    assert len(result.output.strip().splitlines()) == 1
