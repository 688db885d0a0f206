"""Two texts per posting: a bilingual summary line that citations show, and the shorter text that is embedded.

The summary carries every exact field (company, pay, date, board) so a reader can check a citation. The
embedded text carries only what a question describes a job by: its title, role family (in English, beside
the mostly Chinese title), city and skills. Exact fields are filters and figures, not meaning; leaving them
out halves the tokens the encoder reads and lets postings that differ only in pay or date share one vector.
"""

from __future__ import annotations

from collections.abc import Sequence

from assistant.schema import Posting
from assistant.vocab import canonical_city, role_label


def format_salary(posting: Posting) -> str:
    """`15,000-30,000 CNY/month (13 months)`, or the raw text when it was not understood."""
    low, high = posting.salary_min, posting.salary_max
    if low is None and high is None:
        return f"pay: {posting.salary_raw}" if posting.salary_raw else "pay not stated"
    if low is not None and high is not None:
        amount = f"{low:,.0f}-{high:,.0f}" if low != high else f"{low:,.0f}"
    elif low is not None:
        amount = f"from {low:,.0f}"
    else:
        amount = f"up to {high:,.0f}"
    months = f" ({posting.months_per_year} months)" if posting.months_per_year else ""
    return f"{amount} CNY/month{months}"


def posting_summary(posting: Posting) -> str:
    """A readable, bilingual one-liner with role, company, city, pay, date and skills."""
    role = f"{role_label(posting.role_family, 'en')} / {role_label(posting.role_family, 'zh')}"
    parts = [f"{posting.title} ({role})"]
    if posting.company:
        parts.append(posting.company)
    city = canonical_city(posting.city) if posting.city else None
    if city is not None:
        parts.append(f"{city.name} {city.zh}" + (f" {posting.district}" if posting.district else ""))
    elif posting.city_raw:
        parts.append(posting.city_raw)
    parts.append(format_salary(posting))
    if posting.posted is not None:
        parts.append(f"posted {posting.posted.isoformat()}")
    if posting.skills:
        parts.append("skills: " + ", ".join(posting.skills[:12]))
    parts.append(posting.source)
    return "\n".join(parts)


def embedding_text(title: str, role_family: str | None, city: str | None, skills: Sequence[str] | None) -> str:
    """What the vector of a posting is computed from: title, role family, city and skills, one per line.

    Line breaks, not " | ": the tokenizer reads a break as a space, and a bar cost 2 tokens of ~31 a posting."""
    known = canonical_city(city) if city else None
    parts = [title, role_label(role_family, "en") if role_family else "", known.zh if known else (city or "")]
    parts.append(", ".join(list(skills or ())[:12]))
    return "\n".join(parts)
