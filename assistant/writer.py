"""The default writer: a readable answer assembled from figures and evidence, no LLM, no network.

A direct first sentence, then figures, then evidence (and steps, for advice); every claim ends with
the [n] markers of what supports it. Numbers come only from `Figure`s (the postings table) or from
quoted source text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from assistant.figures import SALARY_RULE, THIN, Filters
from assistant.retrieval import Evidence, tokenize
from assistant.schema import Advice, Answer, Citation, Figure
from assistant.templates import render
from assistant.vocab import canonical_city, role_label

_DIMENSION = {
    "en": {"city": "cities", "company": "companies", "skill": "skills", "title": "job titles", "role": "roles"},
    "zh": {"city": "城市", "company": "公司", "skill": "技能", "title": "职位名称", "role": "岗位方向"},
}
_RULE_ZH = "每个职位薪资范围的中点，按月计（年薪÷12，日薪×21.75个工作日）"


@dataclass
class Block:
    """One piece of an answer: a figure computation with the postings behind it."""

    kind: str  # count, salary, top, share, trend, no_postings, unknown_place
    subject: Filters
    figures: list[Figure] = field(default_factory=list)
    examples: list[Citation] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class AdviceRow:
    role: str
    count: int
    median: float | None
    uplift: float | None
    overlap: tuple[str, ...]
    gap: tuple[str, ...]
    examples: list[Citation] = field(default_factory=list)
    filters: dict[str, str] = field(default_factory=dict)


@dataclass
class Findings:
    """Everything the writer may use; it adds no fact of its own."""

    language: str
    intent: str
    blocks: list[Block] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    advice: list[AdviceRow] = field(default_factory=list)
    profile: dict[str, Any] = field(default_factory=dict)
    question: str = ""  # what the asker wrote, plus the glossary's expansion: picks the sentences quoted
    left_out: frozenset[str] = frozenset()  # "postings" / "articles" when the asker's source filter leaves them out


def subject(filters: Filters, lang: str) -> str:
    """`NLP roles in Beijing, 2017` / `北京 NLP 岗位，2017年` from filters."""
    roles = [role_label(r, lang) for r in filters.roles]
    cities = [_city(c, lang) for c in filters.cities]
    skills = list(filters.skills) if not filters.roles else []
    if lang == "zh":
        what = "、".join(roles + skills) + ("岗位" if roles or skills else "所有职位")
        where = "、".join(cities)
        tail = "".join(f"，{y}年" for y in filters.years) + "".join(f"（{s}）" for s in filters.sources)
        company = "".join(f"{c}的" for c in filters.companies)
        return f"{where}{company}{what}{tail}"
    what = " / ".join(roles + skills) or "all"
    text = f"{what} roles" if roles or skills else "All postings"
    if filters.companies:
        text += " at " + ", ".join(filters.companies)
    if cities:
        text += " in " + ", ".join(cities)
    if filters.years:
        text += ", " + ", ".join(str(y) for y in filters.years)
    if filters.sources:
        text += " (" + ", ".join(filters.sources) + ")"
    return text


def _city(name: str, lang: str) -> str:
    city = canonical_city(name)
    return (city.zh if lang == "zh" else city.name) if city else name


def _money(value: float | None) -> str:
    return "?" if value is None else f"{value:,.0f}"


class _Citer:
    def __init__(self) -> None:
        self.citations: list[Citation] = []
        self._index: dict[tuple[str, str], int] = {}

    def marks(self, citations: list[Citation]) -> str:
        numbers = []
        for c in citations:
            key = (c.source_file, c.locator)
            if key not in self._index:
                self.citations.append(c)
                self._index[key] = len(self.citations)
            numbers.append(self._index[key])
        return "".join(f"[{n}]" for n in numbers)


def _figure(block: Block, name: str) -> Figure | None:
    return next((f for f in block.figures if f.name == name), None)


def _block_lines(block: Block, lang: str, cite: _Citer) -> list[str]:
    subj = subject(block.subject, lang)
    marks = cite.marks(block.examples)
    if block.kind == "unknown_place":
        return [render(lang, "unknown_place", place=block.extra["place"])]
    if block.kind == "no_postings":
        return [render(lang, "no_postings", what=subj, coverage=block.extra.get("coverage", ""))]
    if block.kind == "count":
        total = _figure(block, "count")
        distinct = _figure(block, "count_distinct_jobs")
        assert total is not None
        return [render(
            lang, "count", subject=subj, value=f"{total.value:,}",
            distinct=render(lang, "count_distinct", value=f"{distinct.value:,}") if distinct else "",
            thin=render(lang, "thin") if total.n < THIN else "", cites=marks,
        )]  # fmt: skip
    if block.kind == "salary":
        med, p25, p75 = (_figure(block, n) for n in ("salary_median", "salary_p25", "salary_p75"))
        assert med is not None and p25 is not None and p75 is not None
        return [render(
            lang, "salary", subject=subj, median=_money(float(med.value)), p25=_money(float(p25.value)),
            p75=_money(float(p75.value)), n=med.n, thin=render(lang, "thin") if med.n < THIN else "", cites=marks,
        )]  # fmt: skip
    if block.kind == "top":
        dimension = block.extra["dimension"]
        items = ", ".join(
            f"{label(dimension, f.filters[dimension], lang)} {f.value:,}" for f in block.figures
        )
        n = block.figures[0].n if block.figures else 0
        thin = render(lang, "thin") if n < THIN else ""
        return [render(lang, "top", subject=subj, dimension=_DIMENSION[lang][dimension], items=items, n=f"{n:,}",
                       thin=thin, cites=marks)]  # fmt: skip
    if block.kind == "share":
        fig = block.figures[0]
        whole = subject(block.extra["whole"], lang)
        return [render(lang, "share", subject=subj, value=fig.value, whole=whole, n=f"{fig.n:,}", cites=marks)]
    if block.kind == "trend":
        lines = [render(lang, "trend_intro")]
        counts = [f for f in block.figures if f.name == "count"]
        for fig in counts:
            med = next((m for m in block.figures if m.name == "salary_median" and m.filters == fig.filters), None)
            pay = ""
            if med is not None:
                money = _money(float(med.value))
                pay = f", median {money} CNY/month" if lang == "en" else f"，月薪中位数 {money} 元"
            lines.append(render(lang, "trend_row", year=fig.period, source=fig.source, n=f"{fig.value:,}", pay=pay))
        if marks:
            lines[-1] += f" {marks}"
        return lines
    return []


def label(dimension: str, value: str, lang: str) -> str:
    """A filter value as the reader's language names it: cities (北京) and role families; several values
    joined by ", " (as `Filters.describe` joins them) are each named."""
    if dimension in ("city", "cities"):
        names = [_city(v, lang) for v in value.split(", ")]
    elif dimension in ("role", "roles"):
        names = [role_label(v, lang) for v in value.split(", ")]
    else:
        return value
    return ("、" if lang == "zh" else ", ").join(names)


def _provenance(figures: list[Figure], lang: str) -> str:
    """One line naming each source once with the widest period its figures span."""
    spans: dict[str, list[str]] = {}
    for f in figures:
        for part in (p.strip() for p in f.source.split(",") if p.strip()):
            name, _, period = part.partition(" ")
            start, _, end = period.partition(" to ")
            spans.setdefault(name, []).extend(d for d in (start, end) if d[:1].isdigit())
    sources = [f"{name} {min(d)} to {max(d)}" if d else name for name, d in spans.items()]
    rule = SALARY_RULE if lang == "en" else _RULE_ZH
    return render(lang, "provenance", source=", ".join(sources), rule=rule)


def _verdict(blocks: list[Block], lang: str) -> str | None:
    """The direct first sentence of a comparison: which side is higher, from the figures below it."""
    salary = [b for b in blocks if b.kind == "salary"]
    measure, name = (salary, "salary_median") if len(salary) == 2 else (
        [b for b in blocks if b.kind == "count"], "count")  # fmt: skip
    if len(measure) != 2:
        return None
    pairs = [(block, figure) for block in measure if (figure := _figure(block, name)) is not None]
    if len(pairs) != 2:
        return None
    (a, fa), (b, fb) = sorted(pairs, key=lambda pair: -float(pair[1].value))
    unit = (" CNY/month" if lang == "en" else " 元/月") if name == "salary_median" else ""

    def fmt(value: object) -> str:
        return f"{float(str(value)):,.0f}{unit}"

    if fa.value == fb.value:
        return render(lang, "compare_same", first=subject(a.subject, lang), second=subject(b.subject, lang),
                      value=fmt(fa.value))  # fmt: skip
    verb = {("en", "salary_median"): "pay more than", ("en", "count"): "have more postings than",
            ("zh", "salary_median"): "薪资高于", ("zh", "count"): "职位多于"}[(lang, name)]  # fmt: skip
    return render(lang, "compare_more", first=subject(a.subject, lang), verb=verb, second=subject(b.subject, lang),
                  first_value=fmt(fa.value), second_value=fmt(fb.value))  # fmt: skip


def compose(findings: Findings) -> Answer:
    """Turn findings into an Answer; the first line answers the question directly."""
    lang = findings.language
    cite = _Citer()
    lines: list[str] = []
    figures: list[Figure] = []
    if findings.intent == "out_of_scope":
        return Answer(render(lang, "out_of_scope"), (), (), lang, findings.intent)
    if "postings" in findings.left_out and findings.intent in ("figure", "comparison", "trend", "advice"):
        lines.append(render(lang, "postings_filtered"))
    if findings.advice:
        profile = findings.profile
        lines.append(render(lang, "advice_intro", current=profile.get("current", "?"), pay=profile.get("pay", "?"),
                            where=profile.get("where", "")))  # fmt: skip
        for rank, row in enumerate(findings.advice, start=1):
            uplift = ""
            if row.uplift is not None:
                sign = "+" if row.uplift >= 0 else "−"
                uplift = (f" ({sign}{abs(row.uplift):,.0f} vs now)" if lang == "en"
                          else f"（比现在{sign}{abs(row.uplift):,.0f}）")  # fmt: skip
            none = "—"
            lines.append(render(
                lang, "advice_row", rank=rank, role=role_label(row.role, lang), count=f"{row.count:,}",
                median=_money(row.median), uplift=uplift, overlap=", ".join(row.overlap) or none,
                gap=", ".join(row.gap) or none, cites=cite.marks(row.examples),
            ))  # fmt: skip
    if findings.intent == "comparison":
        verdict = _verdict(findings.blocks, lang)
        if verdict:
            lines.append(verdict)
    for block in findings.blocks:
        lines.extend(_block_lines(block, lang, cite))
        figures.extend(block.figures)
    if figures:
        lines.append(_provenance(figures, lang))
    if findings.evidence:
        if lines:
            lines.append("")
        lines.append(render(lang, "advice_steps" if findings.advice else "evidence_intro"))
        for item in findings.evidence:
            citation = Citation(item.source_file, item.locator, item.text, item.kind)
            number = cite.marks([citation]).strip("[]")
            lines.append(render(lang, "evidence_line", text=best_sentences(item.text, findings.question), n=number))
    elif findings.intent in ("fact", "advice") and not findings.advice:
        lines.append(render(lang, "articles_filtered" if "articles" in findings.left_out else "no_evidence"))
    advice = tuple(
        Advice(row.role, role_label(row.role, lang), row.count, row.median, row.uplift, row.overlap, row.gap,
               row.filters)  # fmt: skip
        for row in findings.advice
    )
    return Answer("\n".join(lines).strip(), tuple(cite.citations), tuple(figures), lang, findings.intent, advice)


_SENTENCE = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])|\s+-\s+")


def best_sentences(text: str, question: str, limit: int = 320) -> str:
    """The sentences of a passage that share the most words with the question, in their own order,
    within `limit` characters: the part of a cited passage that answers."""
    sentences = [" ".join(s.split()) for s in _SENTENCE.split(text) if s and s.strip()]
    if not sentences:
        return ""
    wanted = set(tokenize(question))
    scored = sorted(range(len(sentences)), key=lambda i: -len(wanted & set(tokenize(sentences[i]))))
    chosen: list[int] = []
    used = 0
    for i in scored:
        if used + len(sentences[i]) > limit and chosen:
            continue
        chosen.append(i)
        used += len(sentences[i]) + 1
        if used >= limit * 0.6:
            break
    quote = " … ".join(sentences[i] for i in sorted(chosen))
    return quote if len(quote) <= limit + 40 else quote[:limit].rsplit(" ", 1)[0] + "…"
