"""In a real Jupyter kernel (ipykernel, driven by nbclient): `run` draws its progress as a bar
that updates in place, and a `Result` displays as a table."""

from __future__ import annotations

import os

import pytest

if os.environ.get("HPCSUB_TEST_NOTEBOOK") == "1":
    import nbclient
    import nbformat
else:
    nbclient = pytest.importorskip("nbclient", reason="needs nbclient and ipykernel (tests/it/python.rs installs them)")
    nbformat = pytest.importorskip("nbformat")


def test_a_notebook_shows_a_progress_bar_and_the_result_as_a_table(tmp_path) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "import hpcsub\n"
            "job = {'name': 'nb', 'seed': 1, 'compute': {'samples': '2G', 'vars': {'x': 'uniform(0, 1)'},"
            " 'expr': 'sqrt(x)'}, 'reduce': ['mean', {'histogram': {'bins': 4, 'range': [0, 1]}}]}\n"
            "result = hpcsub.run(job, threads=1)\n"
            "result"
        )
    ]
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = notebook.cells[0].outputs
    bars = [o for o in outputs if o.output_type == "display_data"]
    # One bar, updated in place through its display id until the last progress line: the
    # notebook keeps its final state, every sample done.
    assert len(bars) == 1, outputs
    final = bars[0].data["text/html"]
    assert "<b>nb</b>" in final and '<progress value="1.0000"' in final, final
    assert "2G/2G samples (100%)" in final, final
    table = [o for o in outputs if o.output_type == "execute_result"][0].data["text/html"]
    assert "<table>" in table and "mean" in table and "histogram" in table
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"], outputs
