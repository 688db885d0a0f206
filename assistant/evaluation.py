"""`career-assistant eval`: run a question set through `CareerAssistant.ask` and measure the answers.

The questions (`eval/questions.jsonl`) say what each question means; the expected figures
(`eval/expected.json`, beside the questions) were computed from the raw files by `eval/expected.py`,
which shares no code with the assistant. Metrics, each over the questions it applies to:

* **figure accuracy**: share of figure questions (figure, comparison, trend, figure follow-ups) for which
  every expected figure is in `answer.figures`: same name, the same filters (as sets of values per kind;
  no filter missing, none extra), exactly the expected value and n. A ranking (`top_*`) must list the same
  names with the same counts in the same order; a trend every (year, source) count and median.
* **fact recall@5**: share of fact questions for which one of the first five citations is a *hit*: an
  article citation from a relevant file that is the passage holding the quote. It is the passage when
  its text contains the quote, or when its locator (`chunk N`) names a stored chunk whose text contains
  the quote, or when its text is contained in such a chunk. Text is compared after NFKC, case-folding
  and collapsing whitespace. Advice questions are measured the same way and reported apart (no target).
* **citation correctness**: share of answered questions with citations whose every citation is real and
  on topic: a posting citation (`row R`) names a row of `postings` with that source file whose summary is
  the cited text and which matches the question's filters (city, role, source, skill, year); an article
  citation (`chunk N`) names a row of `chunks` with that source file and position N-1 whose text contains
  the cited text (or is contained in it).
* **refusal correctness**: share of out-of-scope and no-data questions answered with no figures and no
  digit in the text.
* **latency**: p50 and p95 (nearest rank) of the seconds `ask` took, over every question.
"""

from __future__ import annotations

import json
import math
import re
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from assistant.errors import UserError
from assistant.schema import Answer, Citation, Figure

#: What `tests/test_eval.py` asserts on the bundled store.
TARGETS = {"figure_accuracy": 1.0, "fact_recall_at_5": 0.9, "citation_correctness": 1.0, "refusal_correctness": 1.0}
RECALL_K = 5
_FILTER_KINDS = ("cities", "roles", "skills", "companies", "years", "sources")
_TREND_KEYS = ("year", "source")


@dataclass(frozen=True)
class QuestionResult:
    """How one question fared; a check that does not apply to its kind is None."""

    id: str
    kind: str
    language: str
    seconds: float
    figures_ok: bool | None = None
    recall_hit: bool | None = None
    citations_ok: bool | None = None
    refusal_ok: bool | None = None
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class Metric:
    """One line of the table: passed of total, and the target when there is one."""

    name: str
    passed: int
    total: int
    target: float | None = None

    @property
    def score(self) -> float | None:
        return self.passed / self.total if self.total else None

    @property
    def met(self) -> bool | None:
        if self.target is None or self.score is None:
            return None
        return self.score >= self.target


@dataclass(frozen=True)
class EvalReport:
    """Every question's result, the metrics over them, and latency."""

    results: tuple[QuestionResult, ...]
    metrics: tuple[Metric, ...]
    latency_p50: float
    latency_p95: float
    store: str = ""
    questions: str = ""

    def metric(self, name: str) -> Metric:
        return next(m for m in self.metrics if m.name == name)

    def failing(self) -> list[QuestionResult]:
        return [r for r in self.results if r.problems]

    def to_dict(self) -> dict[str, Any]:
        """The `eval --json` shape."""
        return {
            "store": self.store,
            "questions": self.questions,
            "metrics": {
                m.name: {"score": m.score, "passed": m.passed, "total": m.total, "target": m.target}
                for m in self.metrics
            },  # fmt: skip
            "latency_seconds": {"p50": round(self.latency_p50, 3), "p95": round(self.latency_p95, 3)},
            "failing": {r.id: list(r.problems) for r in self.failing()},
            "results": [asdict(r) for r in self.results],
        }

    def render(self) -> str:
        """The table `career-assistant eval` prints, then the failing question ids with their reasons."""
        lines = [f"{len(self.results)} questions from {self.questions} on store {self.store}", "",
                 f"{'metric':<28}{'score':>7}{'passed':>10}  target"]  # fmt: skip
        for m in self.metrics:
            score = f"{m.score:.3f}" if m.score is not None else "-"
            target = "" if m.target is None else f">= {m.target:g}" + ("" if m.met else "  NOT MET")
            lines.append(f"{m.name.replace('_', ' '):<28}{score:>7}{f'{m.passed}/{m.total}':>10}  {target}")
        lines.append(f"{'latency p50 / p95':<28}{self.latency_p50:>6.2f}s / {self.latency_p95:.2f}s")
        failing = self.failing()
        lines += ["", f"failing: {len(failing)}" if failing else "failing: none"]
        for r in failing:
            lines.append(f"  {r.id} ({r.kind}, {r.language}): " + "; ".join(r.problems))
        return "\n".join(lines)


# ---------------------------------------------------------------- loading


def load_questions(path: Path) -> list[dict[str, Any]]:
    """The question set, one JSON object per line.

    Raises:
        UserError: the file is missing or a line is not a question object.
    """
    if not path.is_file():
        raise UserError(f"no question set at {path}. Hint: run from the repository root or pass --questions")
    questions: list[dict[str, Any]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(item, dict) or not {"id", "question", "kind"} <= item.keys():
            raise UserError(f"{path}:{number}: expected an object with id, question and kind")
        questions.append(item)
    return questions


def load_expected(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Expected figures by question id (`eval/expected.json`); empty when the file is absent."""
    if not path.is_file():
        return {}
    data: dict[str, list[dict[str, Any]]] = json.loads(path.read_text(encoding="utf-8"))
    return data


# ---------------------------------------------------------------- grading


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text or "").casefold().split())


def _filter_sets(filters: dict[str, Any], drop: Iterable[str] = ()) -> dict[str, frozenset[str]]:
    """Filters as {kind: set of values}; the answer writes "a, b", the question set writes lists."""
    out: dict[str, frozenset[str]] = {}
    for key, value in filters.items():
        if key in drop:
            continue
        values = value if isinstance(value, list) else str(value).split(", ")
        out[key] = frozenset(str(v) for v in values)
    return out


def _same_number(a: Any, b: Any) -> bool:
    try:
        return math.isclose(float(a), float(b), rel_tol=0, abs_tol=1e-6)
    except (TypeError, ValueError):
        return False


def grade_figures(figures: Sequence[Figure], expected: Sequence[dict[str, Any]]) -> list[str]:
    """Problems with the answer's figures against the expected ones; empty when all are there and exact."""
    problems: list[str] = []
    if not expected:
        return ["no expected figures (rerun eval/expected.py)"]
    for want in expected:
        name, want_filters = want["name"], _filter_sets(want["filters"])
        if "ranking" in want:
            dimension = name.removeprefix("top_")
            got = [f for f in figures if f.name == name and _filter_sets(f.filters, (dimension,)) == want_filters]
            ranking = [[f.filters.get(dimension), f.value] for f in got]
            wanted = [list(r) for r in want["ranking"]]
            if not got:
                problems.append(f"{name} {_show(want_filters)} missing")
            elif ranking != wanted or any(f.n != want["n"] for f in got):
                problems.append(f"{name} {_show(want_filters)}: got {_ranking(ranking)} n={got[0].n}, "
                                f"expected {_ranking(wanted)} n={want['n']}")  # fmt: skip
            continue
        same = [f for f in figures if f.name == name and _filter_sets(f.filters) == want_filters]
        if not same:
            near = [f for f in figures if f.name == name]
            seen = f" (has {name} for {_show(_filter_sets(near[0].filters))})" if near else ""
            problems.append(f"{name} {_show(want_filters)} missing{seen}")
        elif not any(_same_number(f.value, want["value"]) and f.n == want["n"] for f in same):
            problems.append(f"{name} {_show(want_filters)}: got {same[0].value} n={same[0].n}, "
                            f"expected {want['value']} n={want['n']}")  # fmt: skip
    return problems


def _show(filters: dict[str, frozenset[str]]) -> str:
    return "{" + ", ".join(f"{k}={'/'.join(sorted(v))}" for k, v in sorted(filters.items())) + "}"


def _ranking(items: list[list[Any]]) -> str:
    return ", ".join(f"{name} {value}" for name, value in items[:5])


class _StoreText:
    """Lookups in the store's tables through the assistant's own read-only connection."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self._chunks: dict[tuple[str, int], str] = {
            (f, int(p)): t for f, p, t in db.query("SELECT source_file, position, text FROM chunks")
        }

    def chunk(self, source_file: str, position: int) -> str | None:
        return self._chunks.get((source_file, position))

    def chunks_with(self, source_file: str, quote: str) -> list[int]:
        q = _norm(quote)
        return [p for (f, p), t in self._chunks.items() if f == source_file and q in _norm(t)]

    def posting(self, source_file: str, row: int) -> tuple[Any, ...] | None:
        found = self.db.query(
            """SELECT summary, city, role_family, source, skills, year(posted) FROM postings
               WHERE source_file = ? AND "row" = ?""",
            [source_file, row],
        )
        return found[0] if found else None


def _position(citation: Citation, prefix: str) -> int | None:
    match = re.fullmatch(rf"{prefix} (\d+)", citation.locator.strip())
    return int(match.group(1)) if match else None


def is_hit(citation: Citation, relevant: Sequence[dict[str, str]], store: _StoreText) -> bool:
    """Whether a citation is the passage of one of the relevant quotes (see the module docstring)."""
    if citation.kind != "article":
        return False
    text = _norm(citation.text)
    number = _position(citation, "chunk")
    for item in relevant:
        if citation.source_file != item["source_file"]:
            continue
        if _norm(item["quote"]) in text:
            return True
        holding = store.chunks_with(item["source_file"], item["quote"])
        if number is not None and number - 1 in holding:
            return True
        if text and any(text in _norm(store.chunk(item["source_file"], p) or "") for p in holding):
            return True
    return False


def grade_citations(citations: Sequence[Citation], filters: dict[str, Any], store: _StoreText) -> list[str]:
    """Problems with the citations: not in the store, text not the stored text, or off the question's filters."""
    problems: list[str] = []
    wanted = {k: {str(v) for v in filters.get(k) or ()} for k in _FILTER_KINDS}
    for index, citation in enumerate(citations, start=1):
        where = f"[{index}] {citation.source_file} {citation.locator}"
        if citation.kind == "posting":
            row = _position(citation, "row")
            found = store.posting(citation.source_file, row) if row is not None else None
            if found is None:
                problems.append(f"{where}: no such posting in the store")
                continue
            summary, city, role, source, skills, year = found
            if _norm(summary) != _norm(citation.text):
                problems.append(f"{where}: cited text is not the posting's summary")
            off = [kind for kind, value in (("cities", city), ("roles", role), ("sources", source),
                                            ("years", str(year) if year is not None else None))
                   if wanted[kind] and value not in wanted[kind]]  # fmt: skip
            if wanted["skills"] and not wanted["skills"] & set(skills or ()):
                off.append("skills")
            if off:
                problems.append(f"{where}: posting outside the question's {', '.join(off)} "
                                f"({city}, {role}, {source})")  # fmt: skip
        elif citation.kind == "article":
            number = _position(citation, "chunk")
            chunk = store.chunk(citation.source_file, number - 1) if number is not None else None
            if chunk is None:
                problems.append(f"{where}: no such article chunk in the store")
            elif not (_norm(citation.text) in _norm(chunk) or _norm(chunk) in _norm(citation.text)):
                problems.append(f"{where}: cited text is not in that chunk")
        else:
            problems.append(f"{where}: unknown citation kind {citation.kind!r}")
    return problems


def grade_refusal(answer: Answer) -> list[str]:
    """A question outside the data gets no figures and no numbers."""
    problems = []
    if answer.figures:
        problems.append(f"refusal has {len(answer.figures)} figure(s), e.g. {answer.figures[0].name}")
    digits = re.findall(r"\d[\d,.]*", answer.text)
    if digits:
        problems.append(f"refusal text has numbers: {', '.join(digits[:3])}")
    return problems


def _question_filters(question: dict[str, Any]) -> dict[str, Any]:
    filters = dict(question.get("filters") or {})
    return {k: v for k, v in filters.items() if k in _FILTER_KINDS}


def grade(question: dict[str, Any], answer: Answer, seconds: float, expected: dict[str, list[dict[str, Any]]],
          store: _StoreText) -> QuestionResult:  # fmt: skip
    """Every check that applies to one question's answer."""
    problems: list[str] = []
    figures_ok = recall_hit = refusal_ok = None
    if question.get("figure"):
        found = grade_figures(answer.figures, expected.get(question["id"], []))
        figures_ok = not found
        problems += found
    if question.get("relevant"):
        first = answer.citations[:RECALL_K]
        recall_hit = any(is_hit(c, question["relevant"], store) for c in first)
        if not recall_hit:
            cited = ", ".join(f"{Path(c.source_file).name} {c.locator}" for c in first) or "nothing"
            problems.append(f"no relevant passage in the first {RECALL_K} citations (cited {cited})")
    if question.get("expect") == "refuse":
        found = grade_refusal(answer)
        refusal_ok = not found
        problems += found
    citations_ok = None
    if answer.citations:
        found = grade_citations(answer.citations, _question_filters(question), store)
        citations_ok = not found
        problems += found
    return QuestionResult(
        id=question["id"], kind=question["kind"], language=question.get("language", ""), seconds=seconds,
        figures_ok=figures_ok, recall_hit=recall_hit, citations_ok=citations_ok, refusal_ok=refusal_ok,
        problems=tuple(problems),
    )  # fmt: skip


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summarize(results: Sequence[QuestionResult], store: str = "", questions: str = "") -> EvalReport:
    """Metrics over per-question results."""

    def count(name: str, attr: str, kinds: tuple[str, ...] | None = None, target: float | None = None) -> Metric:
        chosen = [getattr(r, attr) for r in results if getattr(r, attr) is not None and
                  (kinds is None or r.kind in kinds)]  # fmt: skip
        return Metric(name, sum(1 for ok in chosen if ok), len(chosen), target)

    non_advice = tuple({r.kind for r in results} - {"advice"})
    metrics = (
        count("figure_accuracy", "figures_ok", target=TARGETS["figure_accuracy"]),
        count("fact_recall_at_5", "recall_hit", non_advice, TARGETS["fact_recall_at_5"]),
        count("citation_correctness", "citations_ok", target=TARGETS["citation_correctness"]),
        count("refusal_correctness", "refusal_ok", target=TARGETS["refusal_correctness"]),
        count("advice_recall_at_5", "recall_hit", ("advice",)),
    )
    seconds = [r.seconds for r in results]
    return EvalReport(tuple(results), metrics, percentile(seconds, 0.5), percentile(seconds, 0.95), store, questions)


# ---------------------------------------------------------------- running


def run_eval(store: str | Path | None = None, questions: str | Path = "eval/questions.jsonl",
             expected: str | Path | None = None, settings: Any = None) -> EvalReport:  # fmt: skip
    """Ask every question of the set (with its history) and grade the answers.

    Args:
        store: the store folder; None uses the settings' store.
        questions: the question set (JSON lines).
        expected: the expected figures; default `expected.json` beside the questions.
        settings: a `Settings` to start from (default: from the environment).

    Returns:
        The EvalReport; `render()` gives the table, `to_dict()` the JSON.

    Raises:
        UserError: no question set, or no store.
    """
    from assistant.api import CareerAssistant

    questions_path = Path(questions)
    items = load_questions(questions_path)
    wanted = load_expected(Path(expected) if expected else questions_path.with_name("expected.json"))
    assistant = CareerAssistant(store=store, settings=settings)
    results: list[QuestionResult] = []
    try:
        texts = _StoreText(assistant.corpus)
        for item in items:
            started = time.perf_counter()
            try:
                answer = assistant.ask(item["question"], history=item.get("history") or None)
            except Exception as exc:  # one broken answer is a failing question, not a failed run
                results.append(_failed(item, time.perf_counter() - started, exc))
                continue
            results.append(grade(item, answer, time.perf_counter() - started, wanted, texts))
    finally:
        assistant.close()
    return summarize(results, str(assistant.settings.store), str(questions_path))


def _failed(item: dict[str, Any], seconds: float, exc: Exception) -> QuestionResult:
    """A question whose `ask` raised: every check that applies to it fails."""
    return QuestionResult(
        item["id"], item["kind"], item.get("language", ""), seconds,
        figures_ok=False if item.get("figure") else None,
        recall_hit=False if item.get("relevant") else None,
        refusal_ok=False if item.get("expect") == "refuse" else None,
        problems=(f"error: {type(exc).__name__}: {exc}",),
    )  # fmt: skip
