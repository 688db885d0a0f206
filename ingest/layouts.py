"""Which column of a postings file holds what: known job-board layouts, header synonyms, user mappings.

Layouts are data (`ingest/layouts/*.json`); a file is matched to a known board by its headers,
otherwise its columns are found by common header names, and `--columns` fills or overrides the rest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

from assistant.errors import InputFileError, UserError
from assistant.schema import POSTING_FIELDS, missing_fields

LAYOUT_DIR = Path(__file__).resolve().parent / "layouts"

FIELDS = POSTING_FIELDS
SKILLS_FORMATS = ("none", "list", "python-list", "mixed-tags")


@dataclass(frozen=True)
class Layout:
    """How to read one postings file: its board, and the header of each field."""

    name: str
    source: str
    columns: dict[str, str]
    skills_format: str = "list"
    scrape_date: str | None = None  # "infer-lagou", an ISO date, or None
    pay_period: str | None = None  # of pay written as plain numbers: "month" (when None), "year" or "day"
    keyword_from_file_name: bool = False
    synonyms: dict[str, list[str]] = field(default_factory=dict)
    recognise_by: tuple[str, ...] = ()


@cache
def known_layouts() -> tuple[Layout, ...]:
    """The board layouts shipped as data, generic last."""
    layouts = []
    for path in sorted(LAYOUT_DIR.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        layouts.append(
            Layout(
                name=doc["name"],
                source=doc["source"] or "",
                columns=dict(doc.get("columns", {})),
                skills_format=doc["skills_format"],
                scrape_date=doc["scrape_date"],
                keyword_from_file_name=doc["keyword_from_file_name"],
                synonyms={k: list(v) for k, v in doc.get("synonyms", {}).items()},
                recognise_by=tuple(doc["recognise_by"]),
            )
        )
    # Boards with recognisable headers first; the generic layout (nothing to recognise) last.
    layouts.sort(key=lambda layout: not layout.recognise_by)
    return tuple(layouts)


def parse_column_mapping(spec: str) -> dict[str, str]:
    """Parse `--columns title=职位名称,city=城市` into a field-to-header mapping.

    Raises:
        UserError: an entry is not `field=header` or names an unknown field.
    """
    mapping: dict[str, str] = {}
    for part in (p for p in spec.split(",") if p.strip()):
        name, sep, header = part.partition("=")
        name = name.strip()
        if not sep or not header.strip():
            raise UserError(f"--columns entry {part!r} is not field=header (e.g. salary=薪资待遇)")
        if name not in FIELDS and name not in ("source", "scrape_date"):
            raise UserError(f"--columns names unknown field {name!r}; fields are: {', '.join(FIELDS)}")
        mapping[name] = header.strip()
    return mapping


def load_mapping_file(path: Path) -> dict[str, str]:
    """Read a JSON mapping file: {"title": "header", ..., "source": "MyBoard", "scrape_date": "2024-05-01"}."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"mapping file {path}: {exc}") from None
    if not isinstance(doc, dict) or not all(isinstance(v, str) for v in doc.values()):
        raise UserError(f"mapping file {path}: expected a JSON object of field name to header name")
    return parse_column_mapping(",".join(f"{k}={v}" for k, v in doc.items()))


def resolve_layout(
    headers: list[str], display: str, mapping: dict[str, str] | None = None, source: str | None = None
) -> Layout:
    """Pick the layout for a file from its headers, then apply the user's mapping on top.

    Raises:
        InputFileError: a required field has no column; the message lists the headers found and the fix.
    """
    mapping = dict(mapping or {})
    user_source = mapping.pop("source", None) or source
    user_scrape = mapping.pop("scrape_date", None)
    header_set = set(headers)
    chosen: Layout | None = None
    for layout in known_layouts():
        if layout.recognise_by and set(layout.recognise_by) <= header_set:
            chosen = layout
            break
    if chosen is None:
        generic = known_layouts()[-1]
        chosen = replace(generic, columns=columns_by_synonym(headers, generic.synonyms))
    if chosen.recognise_by:
        # A known board's file in a mixed folder: mapping entries meant for other files do not apply.
        mapping = {name: header for name, header in mapping.items() if header in header_set}
    columns = {**chosen.columns, **mapping}
    for name, header in mapping.items():
        if header not in header_set:
            raise InputFileError(display, f"--columns {name}={header}: no such column (found: {_shown(headers)})")
    missing = missing_fields(columns)
    if missing:
        first = missing[0]
        raise InputFileError(
            display,
            f"no {first} column (found: {_shown(headers)}) — pass --columns {first}=<header>"
            + (f"; also missing: {', '.join(missing[1:])}" if len(missing) > 1 else ""),
        )
    return replace(
        chosen,
        columns=columns,
        source=user_source or chosen.source or "",
        scrape_date=user_scrape or chosen.scrape_date,
    )


def columns_by_synonym(headers: list[str], synonyms: dict[str, list[str]]) -> dict[str, str]:
    folded = {h.strip().lower().replace(" ", "_"): h for h in headers}
    columns: dict[str, str] = {}
    for name, words in synonyms.items():
        for word in words:
            header = folded.get(word.lower().replace(" ", "_"))
            if header is not None and header not in columns.values():
                columns[name] = header
                break
    return columns


def _shown(headers: list[str], limit: int = 12, width: int = 40) -> str:
    """The headers a reason names: the first `limit`, each cut to `width` characters (a header can be a whole
    line of text when the file is not what it claims to be)."""
    shown = [h if len(h) <= width else h[:width] + "…" for h in headers if h != "_index"][:limit]
    more = len(headers) - len(shown)
    return ", ".join(shown) + (f", … {more} more" if more > 0 else "")
