"""The README's commands are the ones CI and users run, and its CLI examples parse."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")


def _block_after(marker: str) -> str:
    match = re.search(rf"<!-- {marker} -->\s*```bash\n(.+?)\n```", README, re.DOTALL)
    assert match, f"README has no bash block after <!-- {marker} -->"
    return match.group(1).strip()


def test_quick_start_is_two_self_contained_commands() -> None:
    run, test = _block_after("quickstart:run"), _block_after("quickstart:test")
    for command in (run, test):
        assert "\n" not in command
        assert "python3 -m venv .venv && " in command
        assert "torch==2.13.0" in command  # never an unpinned torch: it pulls a CUDA build
    assert run.startswith("python3 -m venv .venv && ")
    # The browser tests need the system Chromium; it is installed only when missing, never downloaded by Playwright.
    assert "apt-get install -y chromium" in test and "playwright install" not in test
    assert "career-assistant ingest --bundled" in run
    assert "pytest" in test and "[test]" in test


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "quickstart:test" in ci
    extracted = subprocess.run(
        ["bash", "-c", ci.split("if [ -z")[0].split("cd ")[0] + "cd " + str(REPO) + "; " +
         re.search(r"cmd=\$\((.+)\)\n", ci).group(1)],  # type: ignore[union-attr]
        capture_output=True, text=True,
    )  # fmt: skip
    assert extracted.stdout.strip() == _block_after("quickstart:test")


def test_readme_cli_examples_parse() -> None:
    from assistant.cli import build_parser

    parser = build_parser()
    examples = [line.split("#")[0].strip() for line in README.splitlines() if line.startswith("career-assistant ")]
    assert len(examples) >= 4
    for line in examples:
        parser.parse_args(shlex.split(line)[1:])


def test_configuration_table_matches_settings() -> None:
    from dataclasses import fields

    from assistant.config import ENV_PREFIX, Settings

    for f in fields(Settings):
        assert f"`{ENV_PREFIX}{f.name.upper()}`" in README, f.name


@pytest.mark.slow
def test_wheel_carries_corpus_layouts_vocabularies_and_licences(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path),
         str(REPO)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    wheel = next(tmp_path.glob("career_assistant-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "ingest/corpus/postings/lagou_2017/java.csv",
        "assistant/ui/static/style.css",
        "assistant/ui/static/citations.js",
        "ingest/corpus/postings/lagou_2017/LICENSE",
        "ingest/corpus/postings/zhaopin_ai_2025/README.md",
        "ingest/corpus/postings/job51_python_2023/LICENSE",
        "ingest/corpus/articles/004_8fcb60a14126594e.txt",
        "ingest/layouts/lagou.json",
        "assistant/data/skills.json",
    ):
        assert needed in names, needed
    assert any(n.endswith("licenses/LICENSE") for n in names)
