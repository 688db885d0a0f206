"""Answer templates from `prompts/answer.<lang>.txt`, loaded by name and checked at load time."""

from __future__ import annotations

import re
import string
from functools import cache
from pathlib import Path

from assistant.errors import RuntimeFailure

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
LANGUAGES = ("en", "zh")
_SECTION = re.compile(r"^\[([a-z_]+)\]\s*$")

#: The placeholders each template must use exactly, so a typo in a template file fails at load time.
PLACEHOLDERS: dict[str, set[str]] = {
    "compare_more": {"first", "verb", "second", "first_value", "second_value"},
    "compare_same": {"first", "second", "value"},
    "count": {"subject", "value", "distinct", "thin", "cites"},
    "count_merged": {"parts"},
    "count_rows": {"value"},
    "distinct_jobs": {"value"},
    "distinct_title_city": {"value"},
    "salary": {"subject", "median", "p25", "p75", "n", "thin", "cites"},
    "top": {"subject", "dimension", "items", "n", "thin", "cites"},
    "share": {"subject", "value", "whole", "n", "cites"},
    "trend_intro": {"subject"},
    "trend_row": {"year", "source", "n", "pay"},
    "thin": set(),
    "provenance": {"source", "rule"},
    "no_postings": {"what", "coverage"},
    "unknown_place": {"place"},
    "out_of_scope": set(),
    "evidence_intro": set(),
    "evidence_line": {"text", "n"},
    "no_evidence": set(),
    "articles_filtered": set(),
    "postings_filtered": set(),
    "advice_intro": {"current", "pay", "where", "toward"},
    "advice_row": {"rank", "role", "count", "period", "thin", "median", "uplift", "overlap", "gap", "cites"},
    "advice_steps": set(),
    "pay_position": {"pay", "below", "above", "subject", "median", "n", "thin", "cites"},
    "top_pay": {"subject", "dimension", "min_n", "items", "thin", "cites"},
    "education": {"subject", "items", "n", "unstated", "thin", "cites"},
    "unstated": {"n"},
    "experience": {"subject", "items", "n", "unstated", "thin", "cites"},
    "share_paid": {"value", "n", "whole", "cites"},
    "read_as": {"plan"},
    "not_used": {"parts"},
    "decline": {"why"},
    "guidance_note": set(),
    "period_resolved": {"words", "year", "newest"},
    "fact_none": set(),
    "recent_only": {"first", "last", "older"},
    "mixed_years": {"recent", "first", "last", "older"},
    "no_postings_wider": {"what", "wider", "dropped"},
    "sampling": {"notes"},
    "as_asked": {"why"},
    "shaped": {"what", "ways"},
    "thin_wider": {"what", "n", "wider", "dropped"},
    "pay_equivalent": {"subject", "value", "share", "n", "thin", "cites"},
    "pay_position_yearly": {"pay", "below", "above", "subject", "median", "n", "stated", "thin", "cites"},
    "open_degree": {"subject", "value", "n", "level", "words", "cites"},
    "open_experience": {"subject", "value", "n", "years", "words", "cites"},
    "evidence_line_en": {"text", "terms", "n"},
    "same_board": {"board"},
    "dated": {"years", "boards"},
    "advice_assumed": set(),
}


@cache
def templates(language: str) -> dict[str, str]:
    """All templates of one language, checked against `PLACEHOLDERS`."""
    if language not in LANGUAGES:
        raise RuntimeFailure(f"no answer templates for language {language!r}; have {', '.join(LANGUAGES)}")
    path = PROMPTS_DIR / f"answer.{language}.txt"
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            continue
        match = _SECTION.match(line)
        if match:
            current = match.group(1)
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    out = {name: "\n".join(lines).strip("\n") for name, lines in sections.items()}
    for name, expected in PLACEHOLDERS.items():
        if name not in out:
            raise RuntimeFailure(f"{path.name}: template [{name}] is missing")
        used = {field for _, field, _, _ in string.Formatter().parse(out[name]) if field}
        if used != expected:
            raise RuntimeFailure(f"{path.name}: [{name}] uses {sorted(used)}, expected {sorted(expected)}")
    return out


def render(language: str, name: str, **values: object) -> str:
    return templates(language)[name].format(**values)
