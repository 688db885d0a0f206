"""A postings file's headers, first rows and a suggested column mapping, for a person to check before ingest.

The suggestion comes from a known board's layout when the headers match one, else from header names in
English and Chinese (the generic layout's synonyms), and then, for columns still unclaimed, from their values:
dates, salary shapes, city names, education and experience wording, long texts, numeric pay pairs. A person
corrects it; ingest then reads the file with exactly that mapping.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

from assistant.config import Settings
from assistant.errors import CareerAssistantError
from assistant.schema import PAY_FIELDS, FilePreview, missing_fields
from assistant.vocab import canonical_city, city_from_area, role_family
from ingest.dates import parse_post_date
from ingest.layouts import FIELDS, columns_by_synonym, known_layouts
from ingest.readers import ARTICLE_SUFFIXES, TABLE_SUFFIXES, Limits, read_table
from ingest.salary import SalaryError, parse_salary

#: Rows shown to the person, and rows whose values the suggestion reads.
SHOWN_ROWS = 5
SAMPLED_ROWS = 200
#: Share of a column's non-empty sampled values that must look like a field for the column to be suggested.
SHARE = 0.6
SHOWN_CELL_CHARS = 80

_EDUCATION = re.compile(r"本科|硕士|博士|大专|专科|中专|高中|学历|不限|bachelor|master|ph\.?d|degree|diploma", re.I)
_EXPERIENCE = re.compile(r"\d+\s*(?:[-~至到]\s*\d+\s*)?年|经验|应届|在校|\byears?\b|\bexperience\b", re.I)
_NUMBER = re.compile(r"^\s*\d+(?:\.\d+)?\s*$")


def preview_file(path: Path, settings: Settings) -> FilePreview:
    """Read a file's headers and first rows and suggest a mapping (see the module docstring); never raises for
    a file that cannot be read: the preview's `error` says why."""
    suffix = path.suffix.lower()
    if suffix in ARTICLE_SUFFIXES:
        return FilePreview(file=path.name, kind="articles")
    if suffix not in TABLE_SUFFIXES:
        return FilePreview(file=path.name, kind="", error=f"unknown file type {suffix or '(no extension)'!r}")
    try:
        if path.stat().st_size > settings.max_file_mb * 1e6:
            return FilePreview(file=path.name, kind="postings",
                               error=f"over the {settings.max_file_mb:g} MB limit")  # fmt: skip
        table = read_table(path, path.read_bytes(), path.name, limits=Limits.of(settings))
        sample = []
        for _, row in table.rows:
            sample.append(row)
            if len(sample) >= SAMPLED_ROWS:
                break
    except (CareerAssistantError, OSError) as exc:
        return FilePreview(file=path.name, kind="postings", error=str(exc))
    headers = [h for h in table.headers if h != "_index"]
    suggested, why, layout = suggest(headers, [[str(row.get(h, "") or "") for h in headers] for row in sample])
    shown = tuple(tuple(_cut(str(row.get(h, "") or "")) for h in headers) for row in sample[:SHOWN_ROWS])
    return FilePreview(
        file=path.name, kind="postings", layout=layout, headers=tuple(headers), rows=shown, suggested=suggested,
        why=why, missing=missing_fields(suggested), fields=FIELDS,
    )  # fmt: skip


def suggest(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> tuple[dict[str, str], dict[str, str], str]:
    """(field -> header, field -> why, layout name) for a table given as its headers and sampled rows."""
    present = set(headers)
    for layout in known_layouts():
        if layout.recognise_by and set(layout.recognise_by) <= present:
            columns = {f: h for f, h in layout.columns.items() if h in present and f in FIELDS}
            return columns, {f: f"the {layout.name} layout" for f in columns}, layout.name
    generic = known_layouts()[-1]
    columns = columns_by_synonym(list(headers), generic.synonyms)
    why = {f: "header name" for f in columns}
    values = {h: [r[i].strip() for r in rows if i < len(r) and r[i].strip()] for i, h in enumerate(headers)}
    free = [h for h in headers if h not in columns.values() and values[h]]
    for name, test in _VALUE_TESTS:
        if name in columns:
            continue
        best: tuple[float, str, str] | None = None
        for header in free:
            share, reason = test(values[header])
            if share >= SHARE and (best is None or share > best[0]):
                best = (share, header, reason)
        if best is not None:
            columns[name], why[name] = best[1], best[2]
            free.remove(best[1])
    if not any(p in columns for p in PAY_FIELDS):
        pair = _pay_pair([h for h in free], values)
        if pair is not None:
            (low, high), reason = pair
            columns["salary_min"], columns["salary_max"] = low, high
            why["salary_min"] = why["salary_max"] = reason
    return columns, why, "generic"


def _share(values: Sequence[str], test: Callable[[str], bool], what: str) -> tuple[float, str]:
    sample = values[:SAMPLED_ROWS]
    hits = sum(1 for v in sample if test(v))
    return (hits / len(sample) if sample else 0.0), f"values: {hits} of {len(sample)} {what}"


def _is_date(value: str) -> bool:
    if _NUMBER.match(value):
        return False
    try:
        return parse_post_date(value, None)[0] is not None
    except (ValueError, OverflowError):
        return False


def _is_salary(value: str) -> bool:
    if _NUMBER.match(value):  # a bare number could be anything (an id, a count, one end of a range)
        return False
    try:
        pay = parse_salary(value)
    except SalaryError:
        return False
    return pay is not None and pay.min_monthly is not None


def _is_city(value: str) -> bool:
    return canonical_city(value) is not None


def _is_area(value: str) -> bool:
    return city_from_area(value)[0] is not None


def _is_title(value: str) -> bool:
    return len(value) <= 60 and role_family(value) != "other"


def _long(values: Sequence[str]) -> tuple[float, str]:
    sample = values[:SAMPLED_ROWS]
    mean = sum(map(len, sample)) / len(sample) if sample else 0
    return (1.0 if mean >= 40 else 0.0), f"values: long texts ({mean:,.0f} characters on average)"


_VALUE_TESTS: tuple[tuple[str, Callable[[Sequence[str]], tuple[float, str]]], ...] = (
    ("salary", lambda v: _share(v, _is_salary, "read as pay")),
    ("date", lambda v: _share(v, _is_date, "are dates")),
    ("city", lambda v: _share(v, _is_city, "are city names")),
    ("area", lambda v: _share(v, _is_area, "name a city")),
    ("education", lambda v: _share(v, lambda x: bool(_EDUCATION.search(x)) and len(x) <= 30, "name a degree")),
    ("experience", lambda v: _share(v, lambda x: bool(_EXPERIENCE.search(x)) and len(x) <= 30, "name experience")),
    ("title", lambda v: _share(v, _is_title, "are job titles")),
    ("description", _long),
)


def _pay_pair(free: Sequence[str], values: dict[str, list[str]]) -> tuple[tuple[str, str], str] | None:
    """Two numeric columns that look like the lowest and highest monthly pay: plausible amounts, the first never
    above the second, side by side in the file."""
    numeric = []
    for header in free:
        sample = [v for v in values[header][:SAMPLED_ROWS] if v not in ("0", "0.0")]
        nums = [float(v) for v in sample if _NUMBER.match(v)]
        if sample and len(nums) / len(sample) >= 0.9 and all(500 <= n <= 500_000 for n in nums):
            numeric.append(header)
    for low, high in zip(numeric, numeric[1:], strict=False):
        pairs = [(float(a), float(b)) for a, b in zip(values[low], values[high], strict=False)
                 if _NUMBER.match(a) and _NUMBER.match(b)]  # fmt: skip
        if pairs and sum(a <= b for a, b in pairs) / len(pairs) >= 0.95:
            return (low, high), f"values: two pay columns, the first ≤ the second in {len(pairs)} rows"
    return None


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SHOWN_CELL_CHARS else text[: SHOWN_CELL_CHARS - 1] + "…"
