"""What the page shows, as pure functions of answers, figures and store facts: the sources panel, chart data,
figure labels, the filter choices, the store panel, upload reports and the escaping that keeps text literal.
No Gradio here: `app` turns these into components."""

from __future__ import annotations

import csv
import html
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from assistant.api import ARTICLES, label
from assistant.schema import Answer, Figure, FilePreview, missing_fields

NO_DATA = """**This store has no data yet.** Add postings or articles under *Add your own data* below (a .csv, .xlsx or
.json export of job postings; .txt, .md, .html or .pdf articles), or build the bundled corpus from a terminal:
`career-assistant ingest --bundled`. Questions are answered once something is in."""

QUOTE_CHARS = 600


def _esc(text: str) -> str:
    # Also braces: the HTML component fills a template, and a posting may contain "${...}" or "{{...}}".
    return html.escape(text).replace("{", "&#123;").replace("}", "&#125;").replace("$", "&#36;")


def sources_html(cited: Sequence[Sequence[Mapping[str, str]]]) -> str:
    """The sources panel: the last answer's citations, then earlier answers' folded away.

    Each citation is a `<details id="source-{answer}-{n}">` (answer counts the assistant's messages from 0),
    closed until its [n] marker in that answer is clicked.
    """
    head = "<p><strong>Sources · 来源</strong></p>"
    if not cited:
        return head + "<p><em>The postings and articles behind each answer appear here; click a [n].</em></p>"
    last = len(cited) - 1
    parts = [head, _turn_html(last, cited[last])]
    earlier = [_turn_html(t, cited[t]) for t in range(last - 1, -1, -1) if cited[t]]
    if earlier:
        summary = "<summary>Earlier answers · 之前的回答</summary>"
        parts.append(f'<details class="earlier">{summary}{"".join(earlier)}</details>')
    return "".join(parts)


def _turn_html(turn: int, citations: Sequence[Mapping[str, str]]) -> str:
    if not citations:
        return f'<div class="turn" data-turn="{turn}"><p><em>This answer cites no postings or articles.</em></p></div>'
    items = []
    for n, c in enumerate(citations, start=1):
        quote = " ".join(str(c["text"]).split())
        quote = quote if len(quote) <= QUOTE_CHARS else quote[: QUOTE_CHARS - 1] + "…"
        items.append(
            f'<details class="source" id="source-{turn}-{n}"><summary><strong>[{n}]</strong> '
            f"<code>{_esc(str(c['source_file']))}</code> · {_esc(str(c['locator']))}</summary>"
            f"<blockquote>{_esc(quote)}</blockquote></details>"
        )
    return f'<div class="turn" data-turn="{turn}">{"".join(items)}</div>'


def _revealed(text: str) -> Iterator[str]:
    """The text so far, a line at a time (the answer is computed whole; this paces its display)."""
    lines = text.splitlines(keepends=True)
    for end in range(1, len(lines)):
        yield "".join(lines[:end])


_NAMES = {
    "en": {"count": "postings", "count_rows": "rows in the files", "count_distinct_jobs": "distinct jobs",
           "count_distinct_title_city": "distinct title and city", "salary_median": "median monthly pay",
           "salary_p25": "25th percentile pay", "salary_p75": "75th percentile pay", "share_percent": "share, %",
           "top_city": "postings in", "top_skill": "postings asking for", "top_company": "postings at",
           "top_title": "postings titled", "top_role": "postings in role"},
}  # fmt: skip


def _pickable(answer: Answer) -> list[Figure]:
    """The answer's figures and, for advice, each target role's postings (the rows behind its numbers)."""
    extra = [Figure("count", a.count, a.count, a.filters, "", "", a.subject) for a in answer.advice]
    return [*answer.figures, *extra]


def figure_label(figure: Figure) -> str:
    """e.g. "median monthly pay 25,000 · Beijing · nlp (n=215)"."""
    name = _NAMES["en"].get(figure.name, figure.name)
    value = f"{figure.value:,.0f}" if isinstance(figure.value, float) and figure.value >= 100 else f"{figure.value:,}"
    top = figure.name.removeprefix("top_") if figure.name.startswith("top_") else ""
    where = [str(v) for k, v in figure.filters.items() if k != top]
    if top:
        return f"{name} {figure.filters.get(top, '?')}: {value} of {figure.n:,}" + "".join(f" · {w}" for w in where)
    return f"{name} {value} · {' · '.join(where) or 'all postings'} (n={figure.n:,})"


def figure_choices(answer: Answer) -> list[tuple[str, int]]:
    return [(figure_label(f), i) for i, f in enumerate(_pickable(answer))]


#: A cell a spreadsheet would run as a formula starts with one of these.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet shows as text: one starting with = + - @ (or a tab/CR) gets a leading '."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        value = ", ".join(str(v) for v in value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    """UTF-8 with a BOM (so Excel reads Chinese right), every cell neutralised by `safe_cell`."""
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(header)
        out.writerows([safe_cell(v) for v in row] for row in rows)
    return path


def _prune(folder: Path, older_than_s: float) -> None:
    """Delete files in `folder` not modified for `older_than_s` seconds (old CSV downloads)."""
    cutoff = time.time() - older_than_s
    for path in folder.iterdir():
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except FileNotFoundError:
            pass  # another session pruned it first


def _display_row(row: Sequence[Any]) -> list[Any]:
    return [", ".join(v) if isinstance(v, list | tuple) else ("" if v is None else v) for v in row]


def _slug(figure: Figure) -> str:
    words = [figure.name, *(str(v) for v in figure.filters.values())]
    return re.sub(r"[^\w]+", "-", "-".join(words), flags=re.UNICODE).strip("-")[:80] or "figure"


def chart_data(
    figures: Sequence[Figure], intent: str = "", language: str = "en"
) -> tuple[pd.DataFrame | None, str, str]:
    """Which figures to draw as bars, and their titles: a top list, else pay, else posting counts.

    A trend question draws counts (demand) per year; one pay figure draws its quartiles.
    """
    lang = "zh" if language == "zh" else "en"
    t = _TITLES[lang]
    tops = [f for f in figures if f.name.startswith("top_")]
    if tops:
        dimension = tops[0].name.removeprefix("top_")
        same = [f for f in tops if f.name == tops[0].name]
        labels = [label(dimension, str(f.filters.get(dimension, "?")), lang) for f in same]
        return _frame(labels, [f.value for f in same]), t["top"].format(t.get(dimension, dimension)), t["postings"]
    medians = [f for f in figures if f.name == "salary_median"]
    counts = [f for f in figures if f.name == "count"]
    if medians and not (intent == "trend" and counts):
        if len(medians) == 1:
            quartiles = {f.name: f.value for f in figures if f.filters == medians[0].filters}
            names = [n for n in ("salary_p25", "salary_median", "salary_p75") if n in quartiles]
            shown = [(t[n], quartiles[n]) for n in names]
            title = t["pay_one"].format(_group_label(medians[0], medians, lang), medians[0].n)
            return _frame([s[0] for s in shown], [s[1] for s in shown]), title, t["cny"]
        labels = [f"{_group_label(f, medians, lang)} (n={f.n})" for f in medians]
        return _frame(labels, [f.value for f in medians]), t["pay"], t["cny"]
    if counts:
        labels = [_group_label(f, counts, lang) for f in counts]
        return _frame(labels, [f.value for f in counts]), t["count"], t["postings"]
    return None, "", ""


_TITLES = {
    "en": {"top": "Postings by {}", "pay_one": "Monthly pay, {} (n={})", "pay": "Median monthly pay",
           "count": "Postings", "postings": "postings", "cny": "CNY / month", "salary_p25": "25th percentile",
           "salary_median": "median", "salary_p75": "75th percentile", "all": "all postings"},
    "zh": {"top": "职位数（按{}）", "pay_one": "月薪，{}（样本 {}）", "pay": "月薪中位数", "count": "职位数",
           "postings": "职位数", "cny": "元/月", "salary_p25": "25分位", "salary_median": "中位数",
           "salary_p75": "75分位", "city": "城市", "skill": "技能", "role": "岗位", "company": "公司",
           "all": "全部职位"},
}  # fmt: skip


def _group_label(figure: Figure, group: Sequence[Figure], lang: str = "en") -> str:
    """Name a figure by the filters that tell it apart from the others in its group (all of them if alone)."""
    keys = [k for k in figure.filters if len({str(f.filters.get(k)) for f in group}) > 1] or list(figure.filters)
    return " · ".join(label(k, str(figure.filters[k]), lang) for k in keys) or _TITLES[lang]["all"]


def _frame(labels: Sequence[str], values: Sequence[Any]) -> pd.DataFrame | None:
    numeric = [(label, float(v)) for label, v in zip(labels, values, strict=True) if isinstance(v, int | float)]
    if not numeric:
        return None
    return pd.DataFrame({"label": [n[0] for n in numeric], "value": [n[1] for n in numeric]})


def filter_choices(found: Mapping[str, Sequence[tuple[Any, int]]]) -> dict[str, list[tuple[str, str]]]:
    """What the filter widgets offer (from `CareerAssistant.facets`): values present in the store, with counts."""
    cities, roles, years, sources = found["cities"], found["roles"], found["years"], found["sources"]

    def city_label(name: str, n: int) -> str:
        zh = label("city", name, "zh")
        return f"{name} {zh} ({n:,})" if zh != name else f"{name} ({n:,})"

    return {
        "cities": [(city_label(c, n), c) for c, n in cities],
        "roles": [(f"{label('role', r, 'en')} · {label('role', r, 'zh')} ({n:,})", r) for r, n in roles],
        "years": [(f"{y} ({n:,})", str(y)) for y, n in years],
        "sources": [*((f"{s} ({n:,})", s) for s, n in sources), ("articles · 文章", ARTICLES)],
    }


def chosen_filters(known_sources: Sequence[str], cities: Sequence[str], roles: Sequence[str],
                    years: Sequence[str], sources: Sequence[str]) -> dict[str, list[Any]]:  # fmt: skip
    """The widgets' state as `ask(filters=...)`; every source ticked is the same as none (no restriction)."""
    chosen: dict[str, list[Any]] = {"cities": list(cities or []), "roles": list(roles or []),
                                    "years": [int(y) for y in years or []]}  # fmt: skip
    picked = set(sources or [])
    if picked and picked != {*known_sources, ARTICLES}:
        chosen["sources"] = sorted(picked)
    return {k: v for k, v in chosen.items() if v}


def store_markdown(stats: Mapping[str, Any] | None) -> str:
    """What the answers rest on (`CareerAssistant.stats`): postings by source with their period, and the articles."""
    if stats is None:
        return NO_DATA
    lines = ["| source | postings | period | with pay |", "|---|---:|---|---:|"]
    for s in stats["sources"]:
        period = f"{s['first']} – {s['last']}" if s["first"] else "dates unknown"
        share = 100 * s["with_salary"] / s["postings"] if s["postings"] else 0
        lines.append(f"| {_md(str(s['source']))} | {s['postings']:,} | {period} | {share:.0f}% |")
    articles = stats["articles"]
    lines.append("")
    lines.append(f"**{stats['postings']:,} postings** in {stats['city_count']:,} cities; **{len(articles)} articles** "
                 f"({sum(a[2] for a in articles)} passages):")  # fmt: skip
    lines += [f"- {_md(str(title) or str(path))} · `{Path(str(path)).name}`" for path, title, _ in articles]
    updated = stats.get("updated")
    if updated:
        lines.append(f"\n*Store updated {str(updated)[:19].replace('T', ' ')}.*")
    return "\n".join(lines)


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+|!~&])")


_ESCAPED = re.compile(r"\\([\\`*_{}\[\]<>()#+|!~&:.])")


#: Where the chat's Markdown would make a link by itself: "http://", "www.".
_AUTOLINK = re.compile(r"(?<=\w)(:)(?=//)|(?<=\bwww)(\.)", re.IGNORECASE)


def _md(text: str) -> str:
    """Plain text shown literally in Markdown (titles and postings contain *, |, <, # ...)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def chat_text(text: str) -> str:
    """A message as the chat shows it: every character literal, so a document's `<script>`, `<img onerror>`,
    `![](remote image)` or `[link](url)` in a quoted passage is shown as text and never becomes markup; line
    breaks and "- " list lines are kept (answers are plain text), and a URL is not made a link."""
    lines = (_MARKDOWN_SPECIAL.sub(r"\\\1", line) for line in text.split("\n"))
    return "\n".join(_AUTOLINK.sub(lambda m: "\\" + m.group(), line) for line in lines)


def as_written(text: str) -> str:
    """The text `chat_text` escaped (what a conversation's earlier turns said, for follow-up questions)."""
    return _ESCAPED.sub(r"\1", text)


def _unfenced(text: str) -> str:
    """Text that cannot close the code fence it is shown in (a reason may quote a file's own backticks)."""
    return text.replace("`", "ˋ")


def gap_markdown(answer: Answer) -> str:
    """The "your gap" list for an advice answer: per target role, the top skills the asker has and lacks ("" when
    the answer gives no advice)."""
    if not answer.advice:
        return ""
    zh = answer.language == "zh"
    lines = ["**你的技能差距**" if zh else "**Your gap**"]
    for a in answer.advice:
        have = ", ".join(map(_md, a.have)) or "—"  # a board's own skill tags are text from its postings
        learn = ", ".join(map(_md, a.gap)) or "—"
        pay = f", median {a.median:,.0f} CNY" if a.median is not None and not zh else (
            f"，中位数 {a.median:,.0f} 元" if a.median is not None else "")  # fmt: skip
        if zh:
            lines.append(f"- **{a.label}**（{a.count:,} 个职位{pay}）：已具备 {have}；待补 **{learn}**")
        else:
            lines.append(f"- **{a.label}** ({a.count:,} postings{pay}): you have {have}; to learn **{learn}**")
    return "\n".join(lines)


def upload_markdown(report: Any, store: str) -> str:
    """An upload's outcome a visitor can read: a line per file (✓ what went in, ✗ why not), then the ingest's own
    report with the store's place on the server's disk replaced by `<store>`."""
    lines = []
    for f in report.files:
        name = Path(f.display).name
        if f.status in ("added", "changed", "unchanged"):
            what = "posting rows" if f.kind == "postings" else "article passages"  # rows: repeats merge later
            lines.append(f"- ✓ `{_unfenced(name)}`: {f.records:,} {what} ({f.status})")
        elif f.status == "failed":
            lines.append(f"- ✗ `{_unfenced(name)}`: {_md(f.error.replace(store, '<store>'))}")
    if any(f.status != "failed" or f.kind for f in report.files):
        lines.append(f"\n```text\n{_unfenced(report.render().replace(store, '<store>'))}\n```")
    return "\n".join(lines)


def upload_failed_markdown(reason: str, store: str) -> str:
    """An upload that added nothing because the run itself failed (the store in use, stopped, ...)."""
    return f"- ✗ nothing was added: {_md(reason.replace(store, '<store>'))}"


#: Each mappable field as the mapping step names it.
FIELD_LABELS = {
    "title": "job title · 职位", "city": "city · 城市", "area": "location to find the city in · 地点",
    "salary": "pay as written, e.g. 15k-25k · 薪资", "salary_min": "lowest pay · 最低薪资",
    "salary_max": "highest pay · 最高薪资", "date": "posting date · 发布日期", "company": "company · 公司",
    "description": "description · 职位描述", "skills": "skills · 技能", "experience": "experience · 经验",
    "education": "education · 学历", "job_id": "the board's job id · 职位编号",
}  # fmt: skip


def mapping_markdown(preview: FilePreview, mapping: Mapping[str, str]) -> str:
    """What the mapping step says about a file: how its layout was found, each mapped field and why it was
    suggested, and what is still needed before it can go in."""
    how = ("read as the **generic** layout: columns found by header names and values" if preview.layout == "generic"
           else f"recognised as a **{_md(preview.layout)}** export")  # fmt: skip
    lines = [f"**{_md(preview.file)}**: {len(preview.headers)} columns, {how}."]
    for name, header in mapping.items():
        why = preview.why.get(name) if preview.suggested.get(name) == header else "your choice"
        lines.append(f"- {FIELD_LABELS.get(name, name)} ← `{_unfenced(header)}` ({_md(why or '')})")
    missing = missing_fields(mapping)
    if missing:
        needed = ", ".join(FIELD_LABELS.get(m, m) for m in missing)
        lines.append(f"\n⚠️ Still needed · 还需要: **{needed}**. Pick a column for each below, or the file is refused.")
    else:
        lines.append("\n✓ Ready: check the choices below, then *Add to my store*.")
    return "\n".join(lines)


def answer_text(answer: Answer) -> str:
    """An answer as the chat shows it: with its notice first when a chat model's wording was replaced."""
    return f"ⓘ {answer.notice}\n\n{answer.text}" if answer.notice else answer.text
