"""Plain domain types shared by ingest and the assistant (stdlib only)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any


@dataclass(frozen=True)
class Posting:
    """One job posting after normalization; salaries are monthly CNY.

    `months_per_year` is the number of monthly salaries paid a year when the posting says so
    (`·13薪`), else None (12 is the usual assumption but it is not invented here).
    """

    posting_id: str
    source: str
    source_file: str
    row: int
    board_job_id: str | None
    title: str
    company: str | None
    city: str | None
    city_raw: str | None
    district: str | None
    salary_raw: str | None
    salary_min: float | None
    salary_max: float | None
    salary_period: str | None
    months_per_year: int | None
    posted: date | None
    posted_raw: str | None
    date_precision: str  # "exact", "relative" (resolved against the scrape date) or "unknown"
    role_family: str
    skills: tuple[str, ...]
    keywords: tuple[str, ...] = ()
    experience: str | None = None
    education: str | None = None
    description: str | None = None
    summary: str = ""


@dataclass(frozen=True)
class Article:
    """One article as read from a file."""

    article_id: str
    source_file: str
    title: str
    text: str


@dataclass(frozen=True)
class Chunk:
    """A paragraph-aware piece of an article, the unit that is embedded and cited."""

    chunk_id: str
    article_id: str
    source_file: str
    title: str
    position: int
    text: str


@dataclass(frozen=True)
class Citation:
    """Where a claim comes from: a file, a locator in it, and the quoted text."""

    source_file: str
    locator: str
    text: str
    kind: str  # "posting" or "article"


#: Education levels a posting may ask for, lowest first (see `normalize.education_level`).
EDUCATION_LEVELS = ("any", "secondary", "college", "bachelor", "master", "phd")


@dataclass(frozen=True)
class Filters:
    """Which postings a figure is about; empty means no restriction. Pure data: the SQL is `figures.where`.

    `title_terms` match inside job titles (any of them, case-insensitive): job names outside the role
    families ("prompt engineer" -> "prompt"). `pay_min`/`pay_max` bound the posting's monthly pay (midpoint
    of its range, CNY). `education` keeps postings asking for one of those levels (`EDUCATION_LEVELS`);
    `experience_years` keeps postings whose stated minimum years of experience lie in [low, high].
    """

    cities: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    skills: tuple[str, ...] = ()
    companies: tuple[str, ...] = ()
    years: tuple[int, ...] = ()
    sources: tuple[str, ...] = ()
    titles: tuple[str, ...] = ()  # exact titles (case-insensitive): the rows behind a "top titles" figure
    title_terms: tuple[str, ...] = ()
    pay_min: float | None = None
    pay_max: float | None = None
    education: tuple[str, ...] = ()
    experience_years: tuple[int, int] | None = None

    def describe(self) -> dict[str, str]:
        """The restrictions as text, for display and `ask --json` (never parsed back)."""
        out = {}
        for name in ("cities", "roles", "skills", "companies", "years", "sources", "titles", "title_terms",
                     "education"):  # fmt: skip
            values = getattr(self, name)
            if values:
                out[name] = ", ".join(str(v) for v in values)
        if self.pay_min is not None:
            out["pay_min"] = f"{self.pay_min:,.0f}"
        if self.pay_max is not None:
            out["pay_max"] = f"{self.pay_max:,.0f}"
        if self.experience_years is not None:
            out["experience_years"] = "{}-{}".format(*self.experience_years)
        return out

    def with_(self, **changes: Any) -> Filters:
        return replace(self, **changes)


@dataclass(frozen=True)
class Figure:
    """A number computed exactly from the postings table.

    `subject` is the typed population the figure was computed over; `filters` is the same as text, plus
    the single entry of a ranking (`city`, `skill`, ...) or of a trend (`year`, `source`).
    """

    name: str
    value: float | int | str
    n: int
    filters: dict[str, str] = field(default_factory=dict)
    source: str = ""
    period: str = ""
    subject: Filters | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Figure:
        """A figure back from `dataclasses.asdict` (a page's state), its subject typed again."""
        subject = data.get("subject")
        if isinstance(subject, dict):
            fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in subject.items()}
            subject = Filters(**fields)
        return cls(**{**data, "subject": subject})


@dataclass(frozen=True)
class Advice:
    """One target role for the asker: demand and pay there, and which of its top skills they have or lack."""

    role: str
    label: str
    count: int
    median: float | None
    uplift: float | None
    have: tuple[str, ...]
    gap: tuple[str, ...]
    filters: dict[str, str] = field(default_factory=dict)
    subject: Filters | None = None  # the postings behind this target role's figures


@dataclass(frozen=True)
class Answer:
    """What the assistant says: the text with [n] markers, what each marker cites, and the figures."""

    text: str
    citations: tuple[Citation, ...]
    figures: tuple[Figure, ...]
    language: str  # "en" or "zh"
    intent: str = ""
    advice: tuple[Advice, ...] = ()
    notice: str = ""  # why a chat model's wording was not shown (then `text` is the assistant's own answer)

    def to_dict(self) -> dict[str, object]:
        """The `ask --json` shape: {"answer", "citations", "figures", "language", "intent", "advice", "notice"}."""
        from dataclasses import asdict

        return {
            "answer": self.text,
            "citations": [asdict(c) for c in self.citations],
            "figures": [_without_subject(asdict(f)) for f in self.figures],
            "language": self.language,
            "intent": self.intent,
            "advice": [_without_subject(asdict(a)) for a in self.advice],
            "notice": self.notice,
        }


def _without_subject(data: dict[str, Any]) -> dict[str, Any]:
    """The JSON shape of a figure or advice row: its filters as text (the typed subject stays in Python)."""
    return {k: v for k, v in data.items() if k != "subject"}


#: The fields a column of a postings file can be mapped to (`--columns field=header`, the page's mapping step).
POSTING_FIELDS = (
    "job_id", "title", "city", "area", "salary", "salary_min", "salary_max", "date", "company",
    "description", "skills", "experience", "education",
)  # fmt: skip
#: A posting needs a title, a salary column (or the lowest and highest pay as two columns) and a place (city, or
#: a location to find the city in).
REQUIRED_FIELDS = ("title", "salary")
PAY_FIELDS = ("salary", "salary_min", "salary_max")
PLACE_FIELDS = ("city", "area")


def missing_fields(mapping: Mapping[str, str]) -> tuple[str, ...]:
    """Required fields a mapping gives no column for: a title, pay (one column or a lowest/highest pair) and a
    place (a city, or a location to find the city in)."""
    missing = [name for name in REQUIRED_FIELDS if name not in mapping
               and not (name == "salary" and any(pay in mapping for pay in PAY_FIELDS))]  # fmt: skip
    if not any(name in mapping for name in PLACE_FIELDS):
        missing.append("city")
    return tuple(missing)


@dataclass(frozen=True)
class FilePreview:
    """A postings file before it goes in: its headers and first rows, and which column is suggested for each
    field (`suggested`: field -> header) and why (`why`: field -> "header name", "the Lagou layout", "values:
    9 of 10 are dates", ...). `missing` names required fields that no column was found for; `error` says why a
    file cannot be read at all (then nothing else is filled in)."""

    file: str
    kind: str  # "postings", "articles", or "" when the type is not one ingest reads
    layout: str = ""  # a known board's layout name, or "generic"
    headers: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    suggested: dict[str, str] = field(default_factory=dict)
    why: dict[str, str] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()  # every field a column can be mapped to
    error: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FilePreview:
        """The preview `dataclasses.asdict` gave (lists back to tuples), e.g. from a page's session state."""
        rows = tuple(tuple(r) for r in data.get("rows", ()))
        tuples = {k: tuple(data.get(k, ())) for k in ("headers", "missing", "fields")}
        return cls(file=str(data["file"]), kind=str(data["kind"]), layout=str(data.get("layout", "")), rows=rows,
                   suggested=dict(data.get("suggested", {})), why=dict(data.get("why", {})),
                   error=str(data.get("error", "")), **tuples)  # fmt: skip

    @property
    def ready(self) -> bool:
        """Whether it can go in with the suggested mapping as it stands."""
        return not self.error and not self.missing
