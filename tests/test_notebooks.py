"""The notebooks: saved clean, and run top to bottom in a fresh kernel of this Python."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ["01-quickstart.ipynb", "02-zone-editing.ipynb", "03-palmares.ipynb"]
KERNEL = "footfall-test"


@pytest.fixture
def kernel(tmp_path, monkeypatch) -> str:
    """A kernelspec that runs this interpreter (the project venv), whatever is installed."""
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"})
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where the notebooks write their files
    return KERNEL


def test_notebooks_are_generated_and_clean():
    spec = importlib.util.spec_from_file_location("make_notebooks", NOTEBOOKS / "make_notebooks.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    assert sorted(make.NOTEBOOKS) == NAMES
    for name, cells in make.NOTEBOOKS.items():
        saved = nbformat.read(NOTEBOOKS / name, as_version=4)
        nbformat.validate(saved)
        expected = make.notebook(cells).cells
        assert [(c.cell_type, c.source) for c in saved.cells] == [
            (c.cell_type, c.source) for c in expected
        ], f"{name} is stale: run notebooks/make_notebooks.py"
        for cell in saved.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, name
        assert saved.cells[0].cell_type == "markdown"


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs(name, kernel):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.executable, end='')"))
    client = NotebookClient(
        nb,
        kernel_name=kernel,
        timeout=300,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on failure
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert nb.cells[-1].outputs[0].text == sys.executable  # the kernel ran this venv
    assert any(o.output_type == "display_data" and "image/png" in o.data for o in outputs), (
        "no figure"
    )
