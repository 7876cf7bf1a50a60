"""The notebooks run top to bottom on a real Jupyter kernel and say what the traces say.

They are executed in memory with nbclient on the ``python3`` kernel (ipykernel), in the
notebooks/ directory (their paths are relative to it), and their outputs are searched for
the verdicts that ``gotrace.load`` gives for the same traces. The files themselves are
stored without outputs, and that is checked too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import gotrace

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SAMPLES = ROOT / "sample_traces"

#: notebook -> the traces whose verdicts must appear in its outputs
EXPECTED = {
    "explore_trace.ipynb": ["proxy-stall"],
    "compare_runs.ipynb": ["up-to-date", "cold-ok"],
    "fleet.ipynb": ["proxy-stall", "lock-held"],
}


def run(name: str) -> Any:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=300,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()
    return nb


def output_text(nb: Any) -> str:
    """Every text/plain and text/html output and every stream, joined."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            data = out.get("data") or {}
            for mime in ("text/plain", "text/html"):
                value = data.get(mime)
                if value:
                    parts.append(value if isinstance(value, str) else "".join(value))
    return "\n".join(parts)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_runs_and_shows_the_verdicts(name: str) -> None:
    import html

    missing = [s for s in EXPECTED[name] if not (SAMPLES / s / "trace.strace").exists()]
    if missing:
        pytest.skip(f"sample traces missing: {', '.join(missing)}")
    nb = run(name)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    text = output_text(nb)
    for sample in EXPECTED[name]:
        verdict = gotrace.load(SAMPLES / sample).verdict
        assert verdict in text or html.escape(verdict) in text, f"{sample}: {verdict!r} not shown"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_is_stored_without_outputs(name: str) -> None:
    nb = json.loads((NOTEBOOKS / name).read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
        # paths stay relative to the notebook, so it runs from a checkout anywhere
        assert "/work/" not in "".join(cell["source"])
