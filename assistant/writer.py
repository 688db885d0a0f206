"""The default writer: a readable answer assembled from figures and evidence, no LLM, no network.

A direct first sentence, then figures, then evidence (and steps, for advice); every claim ends with
the [n] markers of what supports it. Numbers come only from `Figure`s (the postings table) or from
quoted source text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from assistant.figures import SALARY_RULE
from assistant.plan import AI_FAMILIES, TECH_FAMILIES, Plan
from assistant.retrieval import Evidence, sentence_scores, split_sentences
from assistant.schema import Advice, Answer, Citation, Figure, Filters
from assistant.templates import render
from assistant.vocab import (
    canonical_city,
    chinese_gloss,
    role_families,
    role_family,
    role_label,
    skill_label,
    source_label,
)

#: A figure from fewer postings than this is labelled thin wherever it is shown (a headline included).
THIN_LABEL = 20
_DIMENSION = {
    "en": {"city": "cities", "company": "companies", "skill": "skills", "title": "job titles", "role": "roles",
           "education": "education", "experience": "experience"},
    "zh": {"city": "城市", "company": "公司", "skill": "技能", "title": "职位名称", "role": "岗位方向",
           "education": "学历", "experience": "经验"},
}  # fmt: skip
_CJK = re.compile(r"[\u3400-\u9fff]")
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
    subject: Filters | None = None
    #: The data's recent years, and how many of the row's postings fall in them: a row counted over all
    #: years (too few recent postings) says so, since the other rows may be recent only.
    recent: tuple[int, ...] = ()
    recent_count: int = 0
    source: str = ""  # the boards and dates of the row's postings, as a figure's `source`


def _advice_period(row: AdviceRow, lang: str) -> str:
    if not row.recent:
        return ""
    span = _years(row.recent)
    if (row.subject is not None and row.subject.years) or row.recent_count >= row.count:
        return f" in {span}" if lang == "en" else f"（{span}年）"  # all of them recent, whether narrowed or not
    if lang == "en":
        return f" in all years (only {row.recent_count} from {span}, so older postings are included)"
    return f"（各年份合计：{span}年仅 {row.recent_count} 个，含较早职位）"


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
    plan: Plan | None = None
    resolved: dict[str, Any] = field(default_factory=dict)  # relative periods the planner resolved


def subject(filters: Filters, lang: str) -> str:
    """`NLP roles in Beijing, 2017` / `北京 NLP 岗位，2017年` from filters."""
    roles = [role_label(r, lang) for r in filters.roles]
    if filters.roles == AI_FAMILIES:
        roles = ["AI"]
    elif filters.roles == TECH_FAMILIES:
        roles = ["Tech" if lang == "en" else "技术"]
    cities = [_city(c, lang) for c in filters.cities]
    # A role's own skill ("NLP roles" listing NLP) goes unsaid; another skill narrows it and is named.
    skills = [skill_label(x, lang) for x in filters.skills if not filters.roles or role_family(x) not in filters.roles]
    titles = [f"“{t}”" for t in filters.title_terms]
    if lang == "zh":
        named = roles + skills + ([f"职位名含{'或'.join(titles)}"] if titles else [])
        what = "、".join(named) + ("岗位" if named else "所有职位")
        where = "、".join(cities)
        tail = f"，{_years(filters.years)}年" if filters.years else ""
        tail += "".join(f"（{_source(x, lang)}）" for x in filters.sources)
        tail += _conditions(filters, lang)
        company = "".join(f"{c}的" for c in filters.companies)
        return f"{where}{company}{what}{tail}"
    what = " / ".join(roles + skills) or "all"
    text = f"{what} roles" if roles or skills else "All postings"
    if titles:
        titled = " or ".join(titles)
        text = f"Jobs titled {titled}" if not (roles or skills) else f"{text} titled {titled}"
    if filters.companies:
        text += " at " + ", ".join(filters.companies)
    if cities:
        text += " in " + ", ".join(cities)
    if filters.years:
        text += ", " + _years(filters.years)
    if filters.sources:
        text += " (" + ", ".join(filters.sources) + ")"
    return text + _conditions(filters, lang)


_EDUCATION = {
    "en": {"any": "any degree", "secondary": "secondary school", "college": "college (大专)", "bachelor": "bachelor's",
           "master": "master's", "phd": "PhD"},
    "zh": {"any": "学历不限", "secondary": "高中/中专", "college": "大专", "bachelor": "本科", "master": "硕士",
           "phd": "博士"},
}  # fmt: skip


_DROPPED = {
    "en": {"experience": "the experience condition", "education": "the degree condition", "city": "the city",
           "role": "the role (every engineering role there instead)"},
    "zh": {"experience": "经验条件", "education": "学历条件", "city": "城市条件",
           "role": "岗位条件（改为当地所有技术岗位）"},
}  # fmt: skip


def _sep(lang: str) -> str:
    """How a list is joined in the reader's language."""
    return "、" if lang == "zh" else ", "


def _years(years: tuple[int, ...]) -> str:
    """2023, 2024, 2025 as 2023–2025; other sets listed."""
    ordered = sorted(years)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}–{ordered[-1]}"
    return ", ".join(str(y) for y in ordered)


def _source(name: str, lang: str) -> str:
    return source_label(name, lang)


def _conditions(filters: Filters, lang: str) -> str:
    """Pay bounds, education and experience of a subject, as words."""
    out = ""
    if filters.pay_min is not None:
        out += f", paying more than {filters.pay_min:,.0f} CNY a month" if lang == "en" else \
            f"，月薪高于 {filters.pay_min:,.0f} 元"  # fmt: skip
    if filters.pay_max is not None:
        out += f", paying less than {filters.pay_max:,.0f} CNY a month" if lang == "en" else \
            f"，月薪低于 {filters.pay_max:,.0f} 元"  # fmt: skip
    if filters.education:
        names = [_EDUCATION[lang][e] for e in filters.education]
        out += f", asking for {' or '.join(names)}" if lang == "en" else f"，要求{'或'.join(names)}"
    if filters.experience_years == (0, 0):
        out += ", for new graduates (no experience asked)" if lang == "en" else "，面向应届生（不要求经验）"
    elif filters.experience_years is not None:
        low, high = filters.experience_years
        span = f"{low}+" if high >= 99 else f"{low}–{high}"
        out += f", asking for {span} years of experience" if lang == "en" else f"，要求 {span} 年经验"
    return out


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
    if block.kind == "thin_wider":
        words = _DROPPED[lang]
        dropped = _sep(lang).join(words[d] for d in block.extra.get("dropped", ()))
        return [render(lang, "thin_wider", what=subj, n=block.extra["n"], wider=subject(block.extra["wider"], lang),
                       dropped=dropped)]  # fmt: skip
    if block.kind == "no_postings_wider":
        words = _DROPPED[lang]
        dropped = _sep(lang).join(words[d] for d in block.extra.get("dropped", ("experience",)))
        wider = block.extra.get("wider")
        instead = subject(wider, lang) if wider is not None else subj
        return [render(lang, "no_postings_wider", what=subj, wider=instead, dropped=dropped)]
    if block.kind == "no_postings":
        return [render(lang, "no_postings", what=subj, coverage=block.extra.get("coverage", ""))]
    if block.kind == "count":
        total = _figure(block, "count")
        assert total is not None
        rows = _figure(block, "count_rows")
        merged = [render(lang, "count_rows", value=f"{rows.value:,}")] if rows else []
        for name in ("count_distinct_jobs", "count_distinct_title_city"):
            distinct = _figure(block, name)
            if distinct:
                merged.append(render(lang, name.removeprefix("count_"), value=f"{distinct.value:,}"))
        joined = ("；" if lang == "zh" else "; ").join(merged)
        return [render(
            lang, "count", subject=subj, value=f"{total.value:,}",
            distinct=render(lang, "count_merged", parts=joined) if merged else "",
            thin=render(lang, "thin") if total.n < THIN_LABEL else "", cites=marks,
        )]  # fmt: skip
    if block.kind == "salary":
        med, p25, p75 = (_figure(block, n) for n in ("salary_median", "salary_p25", "salary_p75"))
        assert med is not None and p25 is not None and p75 is not None
        return [render(
            lang, "salary", subject=subj, median=_money(float(med.value)), p25=_money(float(p25.value)),
            p75=_money(float(p75.value)), n=med.n, thin=render(lang, "thin") if med.n < THIN_LABEL else "", cites=marks,
        )]  # fmt: skip
    if block.kind == "top":
        dimension = block.extra["dimension"]
        items = _sep(lang).join(f"{label(dimension, f.filters[dimension], lang)} {f.value:,}" for f in block.figures)
        n = block.figures[0].n if block.figures else 0
        thin = render(lang, "thin") if n < THIN_LABEL else ""
        return [render(lang, "top", subject=subj, dimension=_DIMENSION[lang][dimension], items=items, n=f"{n:,}",
                       thin=thin, cites=marks)]  # fmt: skip
    if block.kind == "share":
        fig = block.figures[0]
        whole = subject(block.extra["whole"], lang)
        whole = whole[0].lower() + whole[1:] if whole.startswith("All postings") else whole
        if block.extra.get("of_paid"):
            return [render(lang, "share_paid", value=fig.value, n=f"{fig.n:,}", whole=whole, cites=marks)]
        if block.subject.roles and block.subject.skills:
            subj = _sep(lang).join(
                skill_label(x, lang) for x in block.subject.skills
            )  # a skill's share of a role's postings
        return [render(lang, "share", subject=subj, value=fig.value, whole=whole, n=f"{fig.n:,}", cites=marks)]
    if block.kind in ("open_degree", "open_experience"):
        share = block.figures[0]
        bare = block.subject.with_(education=(), experience_years=None)
        values = {"subject": subject(bare, lang), "value": share.value, "n": f"{share.n:,}",
                  "words": block.extra["words"], "cites": marks}  # fmt: skip
        if block.kind == "open_degree":
            values["level"] = _EDUCATION[lang][block.extra["level"]]
        else:
            values["years"] = block.extra["years"]
        return [render(lang, block.kind, **values)]
    if block.kind == "pay_equivalent":
        same = block.figures[0]
        thin = render(lang, "thin") if same.n < THIN_LABEL else ""
        return [render(lang, "pay_equivalent", subject=subj, value=_money(float(same.value)),
                       share=same.filters["share"], n=f"{same.n:,}", thin=thin, cites=marks)]  # fmt: skip
    if block.kind == "pay_position_yearly":
        less, more, middle, stated = block.figures[:4]
        return [render(
            lang, "pay_position_yearly", pay=_money(block.extra["pay"]), below=less.value, above=more.value,
            subject=subj, median=_money(float(middle.value)), n=f"{less.n:,}", stated=f"{int(stated.value):,}",
            thin=render(lang, "thin") if less.n < THIN_LABEL else "", cites=marks,
        )]  # fmt: skip
    if block.kind == "pay_position":
        less, more = block.figures[:2]
        median = _figure(block, "salary_median")
        return [render(
            lang, "pay_position", pay=_money(block.extra["pay"]), below=less.value, above=more.value, subject=subj,
            median=_money(float(median.value)) if median else "?", n=f"{less.n:,}",
            thin=render(lang, "thin") if less.n < THIN_LABEL else "", cites=marks,
        )]  # fmt: skip
    if block.kind == "top_pay":
        dimension = block.extra["dimension"]
        unit = " CNY" if lang == "en" else " 元"
        items = _sep(lang).join(
            f"{label(dimension, f.filters[dimension], lang)} {_money(float(f.value))}{unit} "
            + (f"(n={f.n})" if lang == "en" else f"（{f.n} 个职位）")
            for f in block.figures
        ) or ("none has enough postings with pay" if lang == "en" else "没有样本足够的")
        return [render(lang, "top_pay", subject=subj, dimension=_DIMENSION[lang][dimension],
                       min_n=block.extra["min_n"], items=items, thin="", cites=marks)]  # fmt: skip
    if block.kind in ("education", "experience"):
        n = block.figures[0].n if block.figures else 0
        items = _sep(lang).join(
            f"{label(block.kind, f.filters[block.kind], lang)} {100 * int(f.value) / n:.0f}% ({f.value})"
            for f in block.figures
        ) if n else ("none states it" if lang == "en" else "均未注明")  # fmt: skip
        unstated = int(block.extra.get("unstated", 0))
        untold = render(lang, "unstated", n=f"{unstated:,}") if unstated > 0 else ""
        return [render(lang, block.kind, subject=subj, items=items, n=f"{n:,}", unstated=untold,
                       thin=render(lang, "thin") if n < THIN_LABEL else "", cites=marks)]  # fmt: skip
    if block.kind == "trend":
        lines = [render(lang, "trend_intro", subject=subj)]
        counts = [f for f in block.figures if f.name == "count"]
        for fig in counts:
            med = next((m for m in block.figures if m.name == "salary_median" and m.filters == fig.filters), None)
            pay = ""
            if med is not None:
                money = _money(float(med.value))
                pay = f", median {money} CNY/month" if lang == "en" else f"，月薪中位数 {money} 元"
            lines.append(
                render(
                    lang, "trend_row", year=fig.period, source=_source(fig.source, lang), n=f"{fig.value:,}", pay=pay
                )
            )
        if marks:
            lines[-1] += f" {marks}"
        return lines
    return []


def _role_or_skill(name: str, lang: str) -> str:
    """A target of advice: a role family's label, or a skill's name ("CUDA")."""
    return role_label(name, lang) if name in role_families() else skill_label(name, lang)


def label(dimension: str, value: str, lang: str) -> str:
    """A filter value as the reader's language names it: cities (北京) and role families; several values
    joined by ", " (as `Filters.describe` joins them) are each named."""
    if dimension in ("city", "cities"):
        names = [_city(v, lang) for v in value.split(", ")]
    elif dimension in ("role", "roles"):
        names = [role_label(v, lang) for v in value.split(", ")]
    elif dimension == "education":
        names = [_EDUCATION[lang].get(value, value)]
    elif dimension == "experience":
        names = [(f"{value} years" if value != "0" else "none / new graduates") if lang == "en"
                 else (f"{value} 年" if value != "0" else "无需经验/应届")]  # fmt: skip
    elif dimension in ("skill", "skills"):
        names = [skill_label(v, lang) for v in value.split(", ")]
    elif dimension in ("source", "sources"):
        names = [_source(v, lang) for v in value.split(", ")]
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
    to = " to " if lang == "en" else " 至 "
    sources = [f"{_source(name, lang)} {min(d)}{to}{max(d)}" if d else _source(name, lang) for name, d in spans.items()]
    rule = SALARY_RULE if lang == "en" else _RULE_ZH
    return render(lang, "provenance", source=_sep(lang).join(sources), rule=rule)


@cache
def _sampling_notes() -> dict[str, Any]:
    with open(Path(__file__).parent / "data" / "sampling.json", encoding="utf-8") as fh:
        notes: dict[str, Any] = json.load(fh)
    return notes


def _sampling(figures: list[Figure], lang: str, more: Sequence[str] = ()) -> str:
    """How the boards behind the figures (and advice rows, whose sources are `more`) collected their postings (a
    search for "Python", AI postings of three cities...): the collection shapes every population, so it is said
    beside the figures."""
    sources = [f.source for f in figures] + list(more)
    names = dict.fromkeys(part.strip().partition(" ")[0] for s in sources for part in s.split(",") if part.strip())
    notes = _sampling_notes()
    said = [notes[n][lang] if n in notes else notes["unknown"][lang].format(source=n) for n in names]
    return render(lang, "sampling", notes=("; " if lang == "en" else "；").join(said)) if said else ""


def _shaped(figures: list[Figure], lang: str) -> str:
    """For figures over a role the boards' collection narrows ("Java" postings found by a search for "Python",
    product managers among AI postings), one line saying so beside the figures."""
    shapes = _sampling_notes().get("shapes", {})
    labels: dict[str, None] = {}
    boards: dict[str, None] = {}
    for f in figures:
        subject_ = f.subject
        if subject_ is None or subject_.roles in (AI_FAMILIES, TECH_FAMILIES):
            continue
        names = [part.strip().partition(" ")[0] for part in f.source.split(",") if part.strip()]
        for board in names:
            shape = shapes.get(board)
            if shape is None:
                continue
            narrowed = [r for r in subject_.roles if r not in shape["beside"]]
            titled = [t for t in subject_.title_terms if t.lower() != "python"]
            if narrowed or titled:
                boards[board] = None
                for r in narrowed:
                    labels[_role_or_skill(r, lang)] = None
                for t in titled:
                    labels[f"“{t}”"] = None
    if not boards:
        return ""
    what = _sep(lang).join(labels)
    ways = (" or " if lang == "en" else "或").join(shapes[b][lang] for b in boards)
    return render(lang, "shaped", what=what, ways=ways)


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


_MEASURE_WORDS = {
    "en": {"salary": "median monthly pay of {s}", "count": "number of postings for {s}",
           "share": "share of {s}", "pay_position": "where {pay} stands among {s} postings with pay",
           "top": "{s} ranked by {d}", "top_pay": "{s}: {d} ranked by median monthly pay",
           "education": "education asked by {s} postings", "experience": "experience asked by {s} postings",
           "trend": "postings and pay per year and board for {s}",
           "pay_equivalent": "where {pay} stands among {s} postings with pay, and the pay at that position among {o}"},
    "zh": {"salary": "{s}的月薪中位数", "count": "{s}的职位数量", "share": "{s}的占比",
           "pay_position": "{pay}在{s}有薪资职位中的位置", "top": "{s}按{d}排名",
           "top_pay": "{s}按月薪中位数排列的{d}", "education": "{s}的学历要求", "experience": "{s}的经验要求",
           "trend": "{s}按年份和招聘网站的职位数与薪资",
           "pay_equivalent": "{pay}在{s}有薪资职位中的位置，以及{o}处于同一位置的月薪"},
}  # fmt: skip


def describe_plan(plan: Plan, lang: str) -> str:
    """The plan in words: what is measured over which population, and how named parts were read."""
    if not plan.subjects or plan.intent in ("fact", "advice", "decline", "out_of_scope"):
        return ""
    words = _MEASURE_WORDS[lang]
    measure = "trend" if plan.intent == "trend" else plan.measure or "salary"
    if measure.startswith("top_"):
        measure = "top_pay" if plan.rank_by == "salary" and measure != "top_skills" else "top"
    dimension = {"top_cities": "city", "top_companies": "company", "top_skills": "skill", "top_titles": "title",
                 "top_experience": "experience"}  # fmt: skip
    d = _DIMENSION[lang].get(dimension.get(plan.measure or "", ""), "")
    join = " vs " if lang == "en" else " 对比 "
    subjects = join.join(subject(s, lang) for s in plan.subjects)
    others = ""
    if measure == "pay_equivalent":
        subjects = subject(plan.subjects[0], lang)
        others = _sep(lang).join(subject(s, lang) for s in plan.subjects[1:])
    yearly = plan.yearly or (None,) * len(plan.pays)
    stated = [(f"{_money(y)} CNY a year" if lang == "en" else f"年薪 {_money(y)} 元") if y is not None
              else (f"{_money(p)} CNY a month" if lang == "en" else f"月薪 {_money(p)} 元")
              for p, y in zip(plan.pays, yearly, strict=True)]  # fmt: skip
    pay = (" / " if lang == "en" else "、").join(stated)
    text = words.get(measure, words["salary"]).format(s=subjects, d=d, pay=pay, o=others)
    used = [p for p in plan.parts if p.used]
    if used:
        said = "; ".join(f"“{p.words}” as {p.meaning}" for p in used) if lang == "en" else \
            "；".join(f"“{p.words}”理解为{p.meaning}" for p in used)  # fmt: skip
        text += f" ({said})" if lang == "en" else f"（{said}）"
    return text


def _reading_lines(findings: Findings, said_first: bool = False) -> list[str]:
    """How the question was read, the parts not used and why, and periods resolved: said after the answer line.
    With `said_first`, the parts the data can't answer open the answer, so they are not listed again."""
    plan, lang = findings.plan, findings.language
    if plan is None or all(b.kind == "unknown_place" for b in findings.blocks) and plan.query.unknown_places:
        return []  # "What do NLP engineers earn in Paris?": the place is the answer
    lines = []
    described = describe_plan(plan, lang)
    if described:
        lines.append(render(lang, "read_as", plan=described))
    if "recent" in findings.resolved:
        first, last, older = findings.resolved["recent"]
        lines.append(render(lang, "recent_only", first=first, last=last, older=f"{older:,}"))
    if "board" in findings.resolved:
        others = _sep(lang).join(source_label(b, lang) for b in findings.resolved.get("other_boards", ()))
        more = ""
        if others:
            more = (f" {others} has enough postings too: ask “on {others}” to compare there." if lang == "en"
                    else f"{others}也有足够的职位：问题中写明“{others}”即可在那里比较。")  # fmt: skip
        lines.append(render(lang, "same_board", board=source_label(findings.resolved["board"], lang)) + more)
    if "mixed" in findings.resolved:
        first, last, recent, older = findings.resolved["mixed"]
        lines.append(render(lang, "mixed_years", first=first, last=last, recent=f"{recent:,}", older=f"{older:,}"))
    if "dated" in findings.resolved:
        first, last, boards = findings.resolved["dated"]
        years = str(first) if first == last else f"{first}–{last}"
        names = ("、" if lang == "zh" else ", ").join(source_label(b, lang) for b in boards)
        lines.append(render(lang, "dated", years=years, boards=names))
    if "period" in findings.resolved:
        period, year, newest = findings.resolved["period"]
        said = {"this_year": ("this year", "今年"), "last_year": ("last year", "去年")}[period][lang == "zh"]
        lines.append(render(lang, "period_resolved", words=said, year=year, newest=newest))
    unused = tuple(p for p in plan.unused() if not (said_first and p.asked))
    if unused and plan.intent not in ("decline", "out_of_scope"):
        sep = "; " if lang == "en" else "；"
        parts = sep.join(f"“{p.words}” ({p.reason})" if lang == "en" else f"“{p.words}”（{p.reason}）" for p in unused)
        lines.append(render(lang, "not_used", parts=parts))
    return lines


def _decline(findings: Findings) -> str:
    plan, lang = findings.plan, findings.language
    reasons = [p.reason for p in plan.unused() if p.topic] if plan else []
    why = ""
    if reasons:
        why = (": " + "; ".join(dict.fromkeys(reasons))) if lang == "en" else ("：" + "；".join(dict.fromkeys(reasons)))
    return render(lang, "decline", why=why)


def compose(findings: Findings) -> Answer:
    """Turn findings into an Answer; the first line answers the question directly, the next says how the
    question was read and which parts of it could not be used."""
    lang = findings.language
    cite = _Citer()
    lines: list[str] = []
    figures: list[Figure] = []
    if findings.intent == "out_of_scope":
        text = render(lang, "out_of_scope")
        if findings.plan and any(p.topic for p in findings.plan.unused()):
            text = _decline(findings) + "\n" + text
        return Answer(text, (), (), lang, findings.intent)
    unused = tuple(p for p in findings.plan.unused() if not p.named) if findings.plan else ()
    nothing = not (findings.blocks or findings.evidence or findings.advice)
    if findings.intent == "decline" or (findings.intent == "fact" and nothing and unused and not findings.left_out):
        return Answer(_decline(findings), (), (), lang, "decline")
    if "postings" in findings.left_out and findings.intent in ("figure", "comparison", "trend", "advice"):
        lines.append(render(lang, "postings_filtered"))
    if findings.advice:
        profile = findings.profile
        lines.append(render(lang, "advice_intro", current=profile.get("current", "?"), pay=profile.get("pay", "?"),
                            where=profile.get("where", ""), toward=profile.get("toward", "AI")))  # fmt: skip
        if findings.plan is not None and not findings.plan.targets_named:
            lines.append(render(lang, "advice_assumed"))
        for rank, row in enumerate(findings.advice, start=1):
            uplift = ""
            if row.uplift is not None:
                sign = "+" if row.uplift >= 0 else "−"
                uplift = (f" ({sign}{abs(row.uplift):,.0f} vs now)" if lang == "en"
                          else f"（比现在{sign}{abs(row.uplift):,.0f}）")  # fmt: skip
            have, gap = (
                _sep(lang).join(skill_label(x, lang) for x in names) or "—" for names in (row.overlap, row.gap)
            )
            named = findings.profile.get("skills", "")
            if not row.overlap:
                # "—" alone reads as "nothing you have counts": say whether the asker named skills, and which.
                role_only = bool(findings.plan and findings.plan.origins)
                none_en = "— (you named your role, not your skills)" if role_only else "— (you named no skills)"
                none_zh = "—（你说明了岗位，没有说明技能）" if role_only else "—（你没有说明技能）"
                have = (f"— (of these; you named {named})" if named else none_en) if lang == "en" \
                    else (f"—（你说明的技能：{named}，不在其中）" if named else none_zh)  # fmt: skip
            lines.append(render(
                lang, "advice_row", rank=rank, role=_role_or_skill(row.role, lang), count=f"{row.count:,}",
                period=_advice_period(row, lang),
                median=_money(row.median), uplift=uplift, overlap=have, gap=gap, cites=cite.marks(row.examples),
                thin=render(lang, "thin") if row.count < THIN_LABEL else "",
            ))  # fmt: skip
    if findings.intent == "comparison":
        verdict = _verdict(findings.blocks, lang)
        if verdict:
            lines.append(verdict)
    for block in findings.blocks:
        lines.extend(_block_lines(block, lang, cite))
        figures.extend(block.figures)
    head = 1 if lines and findings.intent != "trend" else 0
    cannot = [p for p in findings.plan.unused() if p.asked] if findings.plan else []
    said_first = bool(cannot and (figures or findings.advice or findings.evidence))
    reading = _reading_lines(findings, said_first)
    sampling = _sampling(figures, lang, [row.source for row in findings.advice])
    shaped = _shaped(figures + [f for b in findings.blocks for f in b.figures if f not in figures], lang)
    if shaped:
        sampling = f"{sampling}\n{shaped}" if sampling else shaped
    # An answer from the articles alone opens with the quote that answers; how the question was read follows it.
    deferred = reading if not lines and findings.intent == "fact" and findings.evidence else []
    lines[head:head] = ([] if deferred else reading) + ([sampling] if sampling else [])
    if findings.intent == "guidance" and figures:
        lines.insert(head, render(lang, "guidance_note"))
    if said_first:
        # "35 岁还好找工作吗": the part the data can't answer is said first, then what the postings can say.
        why = ("; " if lang == "en" else "；").join(dict.fromkeys(p.reason for p in cannot))
        lines.insert(0, render(lang, "as_asked", why=why))
    if figures:
        lines.append(_provenance(figures, lang))
    if findings.evidence:
        if lines:
            lines.append("")
        if findings.intent != "fact":
            lines.append(render(lang, "advice_steps" if findings.advice else "evidence_intro"))
        for i, item in enumerate(findings.evidence):
            citation = Citation(item.source_file, item.locator, item.text, item.kind)
            number = cite.marks([citation]).strip("[]")
            quote = best_sentences(item.text, findings.question, similarity=item.sentence_similarity, title=item.title)
            line = render(lang, "evidence_line", text=quote, n=number)
            if lang == "zh" and not _CJK.search(quote):
                # An English passage under a Chinese answer: marked as the original, with its key terms glossed.
                terms = "、".join(chinese_gloss(quote))
                gloss = f"（要点：{terms}）" if terms else ""
                line = render(lang, "evidence_line_en", text=quote, n=number, terms=gloss)
            lines.append(line[2:] if findings.intent == "fact" and i == 0 and not figures else line)
            if i == 0 and deferred:
                lines.extend(deferred)
    elif findings.intent in ("fact", "advice") and not findings.advice:
        lines.append(render(lang, "articles_filtered" if "articles" in findings.left_out else "no_evidence"))
    advice = tuple(
        Advice(
            row.role,
            _role_or_skill(row.role, lang),
            row.count,
            row.median,
            row.uplift,
            row.overlap,
            row.gap,
            row.filters,
            row.subject,
        )  # fmt: skip
        for row in findings.advice
    )
    return Answer("\n".join(lines).strip(), tuple(cite.citations), tuple(figures), lang, findings.intent, advice)


def best_sentences(
    text: str, question: str, limit: int = 320, similarity: Sequence[float] = (), title: str = ""
) -> str:
    """The sentences of a passage that answer the question best (`retrieval.sentence_scores`) within `limit`
    characters: the best one first (an answer opens with what answers), the others in the passage's order."""
    sentences = split_sentences(text, title)
    if not sentences:
        return ""
    scores = sentence_scores(sentences, question, similarity)
    scored = sorted(range(len(sentences)), key=lambda i: -scores[i])
    chosen: list[int] = []
    used = 0
    for i in scored:
        if used + len(sentences[i]) > limit and chosen:
            continue
        chosen.append(i)
        used += len(sentences[i]) + 1
        if used >= limit * 0.6:
            break
    quote = " … ".join(sentences[i] for i in [chosen[0], *sorted(chosen[1:])])
    return quote if len(quote) <= limit + 40 else quote[:limit].rsplit(" ", 1)[0] + "…"
