"""The evaluation: the question set, its independently computed answers, and the targets on the bundled store.

`eval/expected.py` computes the expected figures from the raw files without importing the code under
test; the checks here that re-derive a few of them do so a second, simpler way (plain csv, Lagou only).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import statistics
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from assistant.evaluation import TARGETS, EvalReport, grade_figures, grade_refusal, percentile, run_eval
from assistant.schema import Answer, Figure

REPO = Path(__file__).resolve().parent.parent
EVAL = REPO / "eval"
LAGOU = REPO / "ingest" / "corpus" / "postings" / "lagou_2017"


def _expected_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("eval_expected", EVAL / "expected.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def _questions() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (EVAL / "questions.jsonl").read_text(encoding="utf-8").splitlines() if line]


def _expected() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVAL / "expected.json").read_text(encoding="utf-8"))
    return data


# ---------------------------------------------------------------- the question set


def test_question_set_covers_every_kind() -> None:
    questions = _questions()
    kinds = {q["kind"] for q in questions}
    assert len(questions) >= 60
    assert len({q["id"] for q in questions}) == len(questions)
    assert {"figure", "comparison", "trend", "fact", "advice", "followup", "refuse"} <= kinds
    assert sum(q["language"] == "zh" for q in questions) >= 20
    assert all(q["history"] for q in questions if q["kind"] == "followup")
    for q in questions:
        assert q.get("figure") or q.get("relevant") or q.get("expect") == "refuse", q["id"]


def test_every_figure_question_has_an_expected_answer() -> None:
    expected = _expected()
    for q in _questions():
        if q.get("figure"):
            assert expected.get(q["id"]), f"{q['id']}: no expected figures; run eval/expected.py"


def test_expected_script_imports_no_project_code() -> None:
    import ast

    tree = ast.parse((EVAL / "expected.py").read_text(encoding="utf-8"))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not imported & {"assistant", "ingest"}


@pytest.mark.slow
def test_expected_json_is_what_the_script_computes() -> None:
    module = _expected_module()
    assert module.compute() == _expected()


# ---------------------------------------------------------------- a second, simpler computation


def _lagou_rows() -> dict[str, dict[str, str]]:
    """Lagou postings by job id, the first file (path order) giving the fields."""
    rows: dict[str, dict[str, str]] = {}
    for path in sorted(LAGOU.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                if row["职位名称"].strip():
                    rows.setdefault(row["职位编码"], row)
    return rows


def _lagou_mid(text: str) -> float | None:
    """Lagou writes pay only as `25k-40k` or `15k以上`; the second has no upper end."""
    low, _, high = text.lower().partition("-")
    if not high or not low.endswith("k") or not high.endswith("k"):
        return None
    a, b = float(low[:-1]) * 1000, float(high[:-1]) * 1000
    return (a + b) / 2 if 500 <= a <= b <= 10 * a else None


@pytest.mark.slow
def test_lagou_beijing_figures_recomputed_simply() -> None:
    module = _expected_module()
    postings = module.load_postings()
    beijing = [r for r in _lagou_rows().values() if r["所在城市"] == "北京"]
    mine = [p for p in postings if p.source == "Lagou" and p.city == "Beijing"]
    assert len(mine) == len(beijing) == 3061
    pays = [m for m in (_lagou_mid(r["薪资待遇"]) for r in beijing) if m is not None]
    figure = module.figures_for(postings, "salary_median", {"cities": ["Beijing"], "sources": ["Lagou"]})[0]
    assert (figure["n"], figure["value"]) == (len(pays), round(statistics.median(pays), 1))


def test_lagou_keyword_files_share_job_ids() -> None:
    rows = sum(1 for path in LAGOU.glob("*.csv") for _ in csv.DictReader(path.open(encoding="utf-8")))
    assert (rows, len(_lagou_rows())) == (9386, 9109)


# ---------------------------------------------------------------- grading rules on tiny inputs


def test_grade_figures_wants_the_same_filters_value_and_n() -> None:
    want = [{"name": "count", "filters": {"cities": ["Beijing"], "roles": ["nlp"]}, "value": 216, "n": 216}]
    right = Figure("count", 216, 216, {"cities": "Beijing", "roles": "nlp"})
    assert grade_figures([right], want) == []
    extra_filter = Figure("count", 216, 216, {"cities": "Beijing", "roles": "nlp", "skills": "NLP"})
    assert grade_figures([extra_filter], want)
    assert grade_figures([Figure("count", 215, 215, {"cities": "Beijing", "roles": "nlp"})], want)


def test_grade_figures_compares_a_ranking_in_order() -> None:
    want = [{"name": "top_city", "filters": {"roles": ["ml"]}, "ranking": [["Beijing", 9], ["Shanghai", 5]], "n": 20}]
    got = [Figure("top_city", 9, 20, {"roles": "ml", "city": "Beijing"}),
           Figure("top_city", 5, 20, {"roles": "ml", "city": "Shanghai"})]  # fmt: skip
    assert grade_figures(got, want) == []
    assert grade_figures(list(reversed(got)), want)


def test_refusal_has_no_figures_and_no_numbers() -> None:
    assert grade_refusal(Answer("No postings for Paris in this data.", (), (), "en")) == []
    assert grade_refusal(Answer("Paris: 12 postings", (), (), "en"))


def test_percentile_is_nearest_rank() -> None:
    assert percentile([3.0, 1.0, 2.0, 4.0], 0.5) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 0.95) == 95.0


# ---------------------------------------------------------------- the targets on the bundled store


@pytest.fixture(scope="module")
def report(bundled_store: tuple[Path, str]) -> EvalReport:
    store, _ = bundled_store
    return run_eval(store=store, questions=EVAL / "questions.jsonl")


def _failures(report: EvalReport, attr: str) -> list[str]:
    return [f"{r.id}: {'; '.join(r.problems)}" for r in report.results if getattr(r, attr) is False]


@pytest.mark.slow
def test_figure_accuracy(report: EvalReport) -> None:
    metric = report.metric("figure_accuracy")
    assert metric.total >= 45
    assert metric.score == TARGETS["figure_accuracy"], _failures(report, "figures_ok")


@pytest.mark.slow
def test_fact_recall_at_5(report: EvalReport) -> None:
    metric = report.metric("fact_recall_at_5")
    assert metric.total >= 15
    assert (metric.score or 0) >= TARGETS["fact_recall_at_5"], _failures(report, "recall_hit")


@pytest.mark.slow
def test_refusal_correctness(report: EvalReport) -> None:
    metric = report.metric("refusal_correctness")
    assert metric.total >= 8
    assert metric.score == TARGETS["refusal_correctness"], _failures(report, "refusal_ok")


@pytest.mark.slow
def test_citation_correctness(report: EvalReport) -> None:
    metric = report.metric("citation_correctness")
    assert metric.total >= 40
    assert metric.score == TARGETS["citation_correctness"], _failures(report, "citations_ok")


@pytest.mark.slow
def test_eval_cli_prints_json(bundled_store: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    from assistant.cli import main

    store, _ = bundled_store
    questions = EVAL / "questions.jsonl"
    assert main(["eval", "--store", str(store), "--questions", str(questions), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["metrics"]) >= set(TARGETS)
    assert out["latency_seconds"]["p95"] >= out["latency_seconds"]["p50"] > 0
