"""Rows of a postings file to normalized `Posting`s, with every unknown value counted, never invented."""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import date

from assistant.schema import Posting
from assistant.vocab import canonical_city, city_from_area, classify_tag, find_skills, role_family
from ingest.dates import infer_lagou_scrape_date, parse_post_date
from ingest.layouts import Layout
from ingest.readers import Table
from ingest.salary import SalaryError, parse_salary, salary_text
from ingest.summarize import posting_summary

_TAG_SPLIT = re.compile(r"[,，、;；|/]+")


class ParsedPostings:
    """A postings file's rows as normalized `Posting`s, made while they are iterated (never all held at
    once), and counts of what was skipped or left unknown, complete once an iteration has finished."""

    def __init__(self, table: Table, layout: Layout, source_file: str, file_stem: str) -> None:
        self.table, self.layout, self.source_file, self.file_stem = table, layout, source_file, file_stem
        self.source = layout.source
        self.scrape_date = resolve_scrape_date(layout, table)
        self.skipped: Counter[str] = Counter(table.skipped)
        self.unknown: Counter[str] = Counter()
        self.count = 0

    def __iter__(self) -> Iterator[Posting]:
        self.skipped, self.unknown, self.count = Counter(self.table.skipped), Counter(), 0  # counted afresh
        for posting in _postings(self):
            self.count += 1
            yield posting


def content_id(*parts: str) -> str:
    """A stable id from content: the first 20 hex digits of a sha256."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:20]


def resolve_scrape_date(layout: Layout, table: Table) -> date | None:
    """The day the file was scraped, if the layout or the user says how to know it."""
    rule = layout.scrape_date
    if not rule:
        return None
    if rule == "infer-lagou":
        column = layout.columns.get("date")
        return infer_lagou_scrape_date(row.get(column, "") for _, row in table.rows) if column else None
    try:
        return date.fromisoformat(rule)
    except ValueError:
        return None


def parse_postings(table: Table, layout: Layout, source_file: str, file_stem: str) -> ParsedPostings:
    """The postings of a table, normalized as they are iterated; rows without a title are skipped and counted."""
    return ParsedPostings(table, layout, source_file, file_stem)


def _postings(result: ParsedPostings) -> Iterator[Posting]:
    layout, scrape_date = result.layout, result.scrape_date
    cols = layout.columns
    keyword = result.file_stem.replace("_", " ") if layout.keyword_from_file_name else None
    for line, row in result.table.rows:

        def get(name: str, row: dict[str, str] = row) -> str:
            header = cols.get(name)
            return row.get(header, "").strip() if header else ""

        title = get("title")
        if not title:
            result.skipped["empty title"] += 1
            continue
        job_id = get("job_id") or None
        if job_id:
            posting_id = content_id(layout.source, "job", job_id)
        else:
            # Without a board id, identity is the whole row: an exactly repeated row is one posting.
            posting_id = content_id(layout.source, *(f"{k}={v}" for k, v in sorted(row.items()) if k != "_index"))

        salary_raw = salary_text(get("salary"), get("salary_min"), get("salary_max"), layout.pay_period)
        salary = None
        try:
            salary = parse_salary(salary_raw)
            if salary is None:
                result.unknown["salary not stated"] += 1
        except SalaryError as exc:
            result.unknown[f"salary not understood ({exc})"] += 1
        if salary is not None and salary.currency != "CNY":
            result.unknown[f"salary in {salary.currency}, not CNY"] += 1

        city_raw = get("city") or None
        area_raw = get("area") or None
        city = canonical_city(city_raw) if city_raw else None
        district = None
        if area_raw:
            area_city, district = city_from_area(area_raw)
            city = city or area_city
        if city is None and city_raw:
            city, _ = city_from_area(city_raw)
        if city is None:
            result.unknown["city not recognised"] += 1

        posted_raw = get("date") or None
        posted, precision = parse_post_date(posted_raw, scrape_date)
        if posted is None:
            result.unknown["date unknown" if posted_raw else "date not stated"] += 1

        skills, experience, education = _skills(get("skills"), layout.skills_format)
        description = get("description") or None
        all_skills = _merge(skills, find_skills(title), find_skills(description or ""))
        cny = salary is not None and salary.currency == "CNY"
        yield _with_summary(
            Posting(
                posting_id=posting_id,
                source=layout.source,
                source_file=result.source_file,
                row=line,
                board_job_id=job_id,
                title=title,
                company=get("company") or None,
                city=city.name if city else None,
                city_raw=city_raw or area_raw,
                district=district,
                salary_raw=salary_raw,
                salary_min=salary.min_monthly if cny and salary else None,
                salary_max=salary.max_monthly if cny and salary else None,
                salary_period=salary.period if salary else None,
                months_per_year=salary.months_per_year if salary else None,
                posted=posted,
                posted_raw=posted_raw,
                date_precision=precision,
                role_family=role_family(title),
                skills=all_skills,
                keywords=(keyword,) if keyword else (),
                experience=get("experience") or experience,
                education=get("education") or education,
                description=description,
            )
        )


def _with_summary(posting: Posting) -> Posting:
    return replace(posting, summary=posting_summary(posting))


def _skills(raw: str, fmt: str) -> tuple[tuple[str, ...], str | None, str | None]:
    """Skills (canonical names, else the tag as written), plus experience and education found in tags."""
    if not raw or fmt == "none":
        return (), None, None
    tags: list[str]
    if fmt == "python-list" or (raw.startswith("[") and raw.endswith("]")):
        try:
            value = ast.literal_eval(raw) if fmt == "python-list" else json.loads(raw)
            tags = [str(t) for t in value] if isinstance(value, (list, tuple)) else [str(value)]
        except (ValueError, SyntaxError):
            tags = _TAG_SPLIT.split(raw.strip("[]"))
    else:
        tags = _TAG_SPLIT.split(raw)
    skills: list[str] = []
    experience = education = None
    for tag in (t.strip().strip("'\"") for t in tags):
        if not tag:
            continue
        kind = classify_tag(tag)
        if kind == "experience":
            experience = experience or tag
        elif kind == "education":
            education = education or tag
        elif kind == "skill":
            skills.extend(find_skills(tag) or (tag,))
        elif kind == "other" and fmt != "mixed-tags":
            # A board's own skill tag outside our vocabulary is still the board's word for a skill.
            skills.append(tag)
    return _merge(tuple(skills)), experience, education


def _merge(*groups: tuple[str, ...]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for group in groups:
        for skill in group:
            seen.setdefault(skill, None)
    return tuple(seen)
