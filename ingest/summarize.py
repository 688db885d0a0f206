"""One short bilingual line per posting: what is embedded, and what a citation shows.

The embedding model reads English far better than Chinese (STACK.md), so each line carries an English
gloss (role family, city, skills) beside the original Chinese title.
"""

from __future__ import annotations

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
    return " | ".join(parts)
