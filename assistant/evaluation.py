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
* **fact first line**: share of fact questions whose answer's first line holds one of the relevant quotes
  (compared as for recall): the answer opens with the source sentence that answers, not a preamble.
* **Chinese answers in Chinese**: share of Chinese questions whose answer has no Latin-script word outside
  quotes (an English source marked 「英文原文」, the asker's own words in “”) other than company names of the
  store and the Latin words the vocabularies' own Chinese names use (Python, Redis, AI in AI岗位, NLP).
* **citation correctness**: share of answered questions with citations whose every citation is real and
  on topic: a posting citation (`row R`) names a row of `postings` with that source file whose summary is
  the cited text and which matches the question's filters (city, role, source, skill, year); an article
  citation (`chunk N`) names a row of `chunks` with that source file and position N-1 whose text contains
  the cited text (or is contained in it).
* **refusal correctness**: share of out-of-scope and no-data questions answered with no figures and no
  digit in the text, and of decline questions (what the postings cannot tell: age, hukou, 996, options,
  interviews...) answered with no figures.
* **plan accuracy**: share of questions with an `expected_plan` whose plan (`CareerAssistant.plan`, with the
  question's history) matches it: the intent ("decline" is also met by "out_of_scope"), and when given the
  measure, the subjects (each a population: cities, roles, skills, companies, years, sources, title terms,
  education, pay bounds, experience band; compared as a multiset, pay rounded to the yuan), the ranking
  order (`rank_by`, "count" unless stated for top_* measures) and the stated pays.
* **misread** (a count, target 0): answers that give figures for another measure or population than the
  question asked: the answer has figures and the plan's measure (with its `rank_by` and stated pays) or
  subjects differ from the expected plan; or a question that must be declined (out of scope, no data,
  decline) gets any figure.
* **advice only when switching**: share of "should I" questions that are not about moving into another role
  (`expect: no_advice`) answered without the switching advice (no advice rows, intent not "advice").
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
TARGETS = {"figure_accuracy": 1.0, "fact_recall_at_5": 0.95, "fact_first_line": 0.9, "chinese_in_chinese": 1.0,
           "citation_correctness": 1.0,
           "refusal_correctness": 1.0, "plan_accuracy": 1.0, "misread": 0,
           "advice_only_when_switching": 1.0}  # fmt: skip
RECALL_K = 5
_FILTER_KINDS = ("cities", "roles", "skills", "companies", "years", "sources")
#: The population fields of a plan's subject that the expected plan states (`Filters` field names).
_SUBJECT_LISTS = ("cities", "roles", "skills", "companies", "years", "sources", "title_terms", "education")
_MONEY_KEYS = ("pay", "pay_min", "pay_max", "yearly_pay")
_DECLINED = ("refuse", "decline")
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
    first_line_hit: bool | None = None
    chinese_ok: bool | None = None
    citations_ok: bool | None = None
    refusal_ok: bool | None = None
    plan_ok: bool | None = None
    misread: bool | None = None
    advice_ok: bool | None = None
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class Metric:
    """One line of the table: passed of total, and the target when there is one.

    A `counted` metric (misread) counts bad answers: its score is that count, met when at most the target.
    """

    name: str
    passed: int
    total: int
    target: float | None = None
    counted: bool = False

    @property
    def score(self) -> float | None:
        if self.counted:
            return float(self.passed)
        return self.passed / self.total if self.total else None

    @property
    def met(self) -> bool | None:
        if self.target is None or self.score is None:
            return None
        return self.score <= self.target if self.counted else self.score >= self.target


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
            score = "-" if m.score is None else f"{m.passed:d}" if m.counted else f"{m.score:.3f}"
            bound = "<=" if m.counted else ">="
            target = "" if m.target is None else f"{bound} {m.target:g}" + ("" if m.met else "  NOT MET")
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
        if key in _MONEY_KEYS:
            values = [_money(v) for v in ([value] if not isinstance(value, list) else value)]
        out[key] = frozenset(str(v) for v in values)
    return out


def _money(value: Any) -> str:
    """A pay as whole yuan ("33,333" and 33333.33 are the same pay)."""
    try:
        return str(round(float(str(value).replace(",", ""))))
    except ValueError:
        return str(value)


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
            # top_city, top_education, ... and top_city_by_pay (whose entries carry their own n)
            dimension = name.removeprefix("top_").removesuffix("_by_pay")
            got = [f for f in figures if f.name == name and _filter_sets(f.filters, (dimension,)) == want_filters]
            wanted = [list(r) for r in want["ranking"]]
            per_entry_n = bool(wanted) and len(wanted[0]) == 3
            ranking = [[f.filters.get(dimension), _num(f.value), *([float(f.n)] if per_entry_n else [])] for f in got]
            wanted = [[r[0], *(float(v) for v in r[1:])] for r in wanted]
            if not got and not wanted:
                continue  # no group has enough postings: nothing to rank, and nothing ranked
            if not got:
                other = [f for f in figures if f.name == name]
                has = f" (has {name} for {_show(_filter_sets(other[0].filters, (dimension,)))})" if other else ""
                problems.append(f"{name} {_show(want_filters)} missing{has}")
            elif ranking != wanted or (not per_entry_n and any(f.n != want["n"] for f in got)):
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


def _num(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def _show(filters: dict[str, frozenset[str]]) -> str:
    return "{" + ", ".join(f"{k}={'/'.join(sorted(v))}" for k, v in sorted(filters.items())) + "}"


def _ranking(items: list[list[Any]]) -> str:
    return ", ".join(" ".join(str(v) for v in item) for item in items[:8])


class _StoreText:
    """Lookups in the store's tables through the assistant's own read-only connection."""

    def __init__(self, db: Any) -> None:
        self.db = db
        companies = db.query("SELECT DISTINCT company FROM postings WHERE company IS NOT NULL")
        self.latin_allowed = _latin_in_chinese_names() | {w.lower() for (c,) in companies for w in _LATIN.findall(c)}
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


_LATIN = re.compile(r"[A-Za-z][A-Za-z0-9+#.\-]*")
_MARKED_QUOTE = re.compile(r"「英文原文」.*?(?=（要点|\[\d|$)")


def _latin_in_chinese_names() -> set[str]:
    """Latin words that the Chinese names of roles and skills themselves use (Python, AI in AI岗位)."""
    from assistant.vocab import all_skills, role_families, role_label, skill_label

    names = [role_label(r, "zh") for r in role_families()] + [skill_label(s, "zh") for s in all_skills()]
    return {w.lower() for name in names for w in _LATIN.findall(name)}


def english_outside_quotes(text: str, allowed: set[str]) -> list[str]:
    """Latin-script words of a Chinese answer outside quotes and outside `allowed` (lower-case words)."""
    found = []
    for line in text.splitlines():
        line = _MARKED_QUOTE.sub("", line)
        line = re.sub(r"\[\d+\]|“[^”]*”", "", line)
        found += [w for w in _LATIN.findall(line) if w.lower() not in allowed]
    return found


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


def grade_decline(answer: Answer) -> list[str]:
    """A question the postings cannot answer (age, hukou, 996...) gets an honest decline: no figures."""
    if answer.figures:
        first = answer.figures[0]
        return [f"decline has {len(answer.figures)} figure(s), e.g. {first.name} {first.filters}"]
    return []


def grade_no_advice(answer: Answer) -> list[str]:
    """A "should I" question that is not about moving into another role never gets the switching advice."""
    if answer.advice or answer.intent == "advice":
        targets = ", ".join(a.role for a in answer.advice[:4]) or "-"
        return [f"got the switching advice (intent {answer.intent!r}, targets {targets})"]
    return []


# ---------------------------------------------------------------- plans


def subject_key(subject: Any) -> str:
    """One population as canonical text, from a `Filters` or an expected-plan dict."""
    get = (lambda k: subject.get(k)) if isinstance(subject, dict) else (lambda k: getattr(subject, k, None))
    out: dict[str, Any] = {}
    for kind in _SUBJECT_LISTS:
        values = get(kind) or ()
        if values:
            fold = kind == "title_terms"
            out[kind] = sorted({str(v).casefold() if fold else str(v) for v in values})
    for kind in ("pay_min", "pay_max"):
        if get(kind) is not None:
            out[kind] = _money(get(kind))
    band = get("experience_years")
    if band is not None:
        out["experience_years"] = [int(v) for v in band]
    return json.dumps(out, ensure_ascii=False, sort_keys=True)


def plan_summary(plan: Any) -> dict[str, Any]:
    """What of a `Plan` the expected plans state, as plain data."""
    return {
        "intent": plan.intent, "measure": plan.measure, "rank_by": plan.rank_by,
        "subjects": sorted(subject_key(s) for s in plan.subjects), "pays": sorted(_money(p) for p in plan.pays),
        "yearly": sorted(_money(y) for y in getattr(plan, "yearly", ()) if y is not None),
    }  # fmt: skip


def _expected_rank_by(want: dict[str, Any]) -> str | None:
    if "rank_by" in want:
        return str(want["rank_by"])
    measure = want.get("measure")
    return "count" if isinstance(measure, str) and measure.startswith("top_") else None


def compare_plan(got: dict[str, Any], want: dict[str, Any]) -> dict[str, str]:
    """Which parts of a plan differ from the expected plan: {part: "got X, expected Y"}; empty when it matches."""
    diff: dict[str, str] = {}
    if "intent" in want:
        ok = got["intent"] == want["intent"] or (want["intent"] == "decline" and got["intent"] == "out_of_scope")
        if not ok:
            diff["intent"] = f"got {got['intent']}, expected {want['intent']}"
    if "measure" in want and got["measure"] != want["measure"]:
        diff["measure"] = f"got {got['measure']}, expected {want['measure']}"
    rank_by = _expected_rank_by(want)
    if rank_by is not None and got["measure"] == want.get("measure") and got["rank_by"] != rank_by:
        diff["rank_by"] = f"got {got['rank_by']}, expected {rank_by}"
    if "subjects" in want:
        wanted = sorted(subject_key(s) for s in want["subjects"])
        if got["subjects"] != wanted:
            diff["subjects"] = f"got {' | '.join(got['subjects'])}, expected {' | '.join(wanted)}"
    if want.get("pays"):
        wanted_pays = sorted(_money(p) for p in want["pays"])
        if got["pays"] != wanted_pays:
            diff["pays"] = f"got {got['pays']}, expected {wanted_pays}"
    if "yearly" in want or got.get("yearly"):
        wanted_yearly = sorted(_money(p) for p in want.get("yearly", []))
        if got.get("yearly", []) != wanted_yearly:
            diff["pays"] = f"yearly packages: got {got.get('yearly', [])}, expected {wanted_yearly}"
    return diff


def is_misread(question: dict[str, Any], answer: Answer, diff: dict[str, str] | None) -> bool | None:
    """Figures for another measure or population than asked (None: the question states neither and need not
    be declined)."""
    want = question.get("expected_plan") or {}
    if question.get("expect") in _DECLINED:
        return bool(answer.figures)
    if not ({"measure", "subjects"} & want.keys()):
        return None
    if not answer.figures or diff is None:
        return False
    return bool({"measure", "rank_by", "subjects", "pays"} & diff.keys())


def _question_filters(question: dict[str, Any]) -> dict[str, Any]:
    """The filters a cited posting must be inside: the question's, else what every expected subject restricts."""
    if question.get("filters"):
        return {k: v for k, v in dict(question["filters"]).items() if k in _FILTER_KINDS}
    subjects = (question.get("expected_plan") or {}).get("subjects") or []
    if not subjects:
        return {}
    out: dict[str, Any] = {}
    for kind in _FILTER_KINDS:
        if all(s.get(kind) for s in subjects):
            out[kind] = sorted({str(v) for s in subjects for v in s[kind]})
    return out


def grade(question: dict[str, Any], answer: Answer, seconds: float, expected: dict[str, list[dict[str, Any]]],
          store: _StoreText, plan: dict[str, Any] | None = None) -> QuestionResult:  # fmt: skip
    """Every check that applies to one question's answer (and, given `plan_summary` of its plan, the plan's)."""
    problems: list[str] = []
    figures_ok = recall_hit = first_line_hit = chinese_ok = refusal_ok = plan_ok = advice_ok = None
    want_plan = question.get("expected_plan") or {}
    diff: dict[str, str] | None = None
    if plan is not None and want_plan:
        diff = compare_plan(plan, want_plan)
        plan_ok = not diff
        problems += [f"plan {part}: {text}" for part, text in diff.items()]
    misread = is_misread(question, answer, diff)
    if misread:
        problems.append("MISREAD: figures for another measure or population than asked")
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
        if question["kind"] == "fact":
            opening = _norm(next((line for line in answer.text.splitlines() if line.strip()), ""))
            first_line_hit = any(_norm(item["quote"]) in opening for item in question["relevant"])
            if not first_line_hit:
                problems.append(f"the first line does not hold the answer: {opening[:100]!r}")
    if question.get("language") == "zh":
        english = english_outside_quotes(answer.text, store.latin_allowed)
        chinese_ok = not english
        if english:
            problems.append(f"English in a Chinese answer: {' '.join(dict.fromkeys(english))}")
    if question.get("expect") == "refuse":
        found = grade_refusal(answer)
        refusal_ok = not found
        problems += found
    elif question.get("expect") == "decline":
        found = grade_decline(answer)
        refusal_ok = not found
        problems += found
    elif question.get("expect") == "no_advice":
        found = grade_no_advice(answer)
        advice_ok = not found
        problems += found
    citations_ok = None
    if answer.citations:
        found = grade_citations(answer.citations, _question_filters(question), store)
        citations_ok = not found
        problems += found
    return QuestionResult(
        id=question["id"], kind=question["kind"], language=question.get("language", ""), seconds=seconds,
        figures_ok=figures_ok, recall_hit=recall_hit, first_line_hit=first_line_hit, chinese_ok=chinese_ok,
        citations_ok=citations_ok,
        refusal_ok=refusal_ok,
        plan_ok=plan_ok, misread=misread, advice_ok=advice_ok, problems=tuple(problems),
    )  # fmt: skip


def _misreads(results: Sequence[QuestionResult]) -> Metric:
    judged = [r.misread for r in results if r.misread is not None]
    return Metric("misread", sum(1 for m in judged if m), len(judged), TARGETS["misread"], counted=True)


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
        count("fact_first_line", "first_line_hit", target=TARGETS["fact_first_line"]),
        count("chinese_in_chinese", "chinese_ok", target=TARGETS["chinese_in_chinese"]),
        count("citation_correctness", "citations_ok", target=TARGETS["citation_correctness"]),
        count("refusal_correctness", "refusal_ok", target=TARGETS["refusal_correctness"]),
        count("plan_accuracy", "plan_ok", target=TARGETS["plan_accuracy"]),
        _misreads(results),
        count("advice_only_when_switching", "advice_ok", target=TARGETS["advice_only_when_switching"]),
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
            seconds = time.perf_counter() - started
            plan = None
            if item.get("expected_plan"):  # read again, outside the timed answer
                plan = plan_summary(assistant.plan(item["question"], history=item.get("history") or None))
            results.append(grade(item, answer, seconds, wanted, texts, plan))
    finally:
        assistant.close()
    return summarize(results, str(assistant.settings.store), str(questions_path))


def _failed(item: dict[str, Any], seconds: float, exc: Exception) -> QuestionResult:
    """A question whose `ask` raised: every check that applies to it fails."""
    return QuestionResult(
        item["id"], item["kind"], item.get("language", ""), seconds,
        figures_ok=False if item.get("figure") else None,
        recall_hit=False if item.get("relevant") else None,
        first_line_hit=False if item.get("relevant") and item["kind"] == "fact" else None,
        chinese_ok=False if item.get("language") == "zh" else None,
        refusal_ok=False if item.get("expect") in _DECLINED else None,
        plan_ok=False if item.get("expected_plan") else None,
        advice_ok=False if item.get("expect") == "no_advice" else None,
        problems=(f"error: {type(exc).__name__}: {exc}",),
    )  # fmt: skip
