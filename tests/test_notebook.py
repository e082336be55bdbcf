"""examples/tutorial.ipynb runs from top to bottom, headless, in this virtualenv's Python.

The notebook is stored without outputs; here it is executed with nbclient in a temporary working
directory (its study lands in <tmp>/runs/tutorial), with the MNIST the other tests use.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "tutorial.ipynb"
KERNEL = "finn-dse-tests"

pytestmark = [pytest.mark.slow, pytest.mark.finn]


def test_notebook_is_stored_without_outputs() -> None:
    nb = json.loads(NOTEBOOK.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert not cell["outputs"] and cell["execution_count"] is None, "clear the outputs before committing"


def _kernelspec(where: Path) -> Path:
    """A kernel spec that starts this very interpreter (the venv's), whatever else is installed."""
    spec = where / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "finn-dse tests", "language": "python",
    }))
    return where


def test_tutorial_runs(tmp_path: Path, mnist_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    params = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "the notebook needs one cell tagged 'parameters'"
    # Papermill's convention: settings for this run go in a cell right after the parameters cell.
    nb.cells.insert(params[0] + 1, nbformat.v4.new_code_cell(f"DATA_ROOT = Path({str(mnist_root)!r})"))
    monkeypatch.setenv("JUPYTER_PATH", str(_kernelspec(tmp_path / "jupyter")))
    work = tmp_path / "cwd"
    work.mkdir()
    client = NotebookClient(nb, timeout=600, kernel_name=KERNEL, resources={"metadata": {"path": str(work)}})
    started = time.perf_counter()
    client.execute()  # raises CellExecutionError (with the cell and its traceback) if any cell fails
    print(f"tutorial.ipynb ran in {time.perf_counter() - started:.0f} s")

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert (work / "runs" / "tutorial" / "study.db").exists()
    assert (work / "runs" / "tutorial" / "bundle" / "build.yaml").exists()
    assert (work / "runs" / "tutorial" / "report.html").exists()
    # Plotly figures reached the notebook as figures, not as text.
    assert sum("application/vnd.plotly.v1+json" in o.get("data", {}) for o in outputs) >= 3
