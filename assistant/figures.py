"""Market figures computed exactly with SQL over the postings table.

Every figure carries n (the postings it rests on), the filters applied, and the data's source and
period. Salaries are monthly CNY as normalized at ingest (per year ÷ 12, per day × 21.75 working days,
per hour × 8 × 21.75); a posting's pay is the midpoint of its advertised range, and only postings whose
range has both ends known count toward salary figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from assistant.schema import Citation, Figure

#: Below this many postings a figure is flagged as thin evidence.
THIN = 10
SALARY_RULE = (
    "monthly CNY, midpoint of each posting's advertised range; yearly pay ÷ 12, daily × 21.75 working days"
)


class SQL(Protocol):
    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]: ...


@dataclass(frozen=True)
class Filters:
    """What a figure is about; empty means no restriction."""

    cities: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    skills: tuple[str, ...] = ()
    companies: tuple[str, ...] = ()
    years: tuple[int, ...] = ()
    sources: tuple[str, ...] = ()
    titles: tuple[str, ...] = ()  # exact titles (case-insensitive): the rows behind a "top titles" figure

    def where(self) -> tuple[str, list[Any]]:
        """A SQL condition over `postings` and its parameters."""
        clauses: list[str] = []
        params: list[Any] = []
        for column, values in (("city", self.cities), ("role_family", self.roles), ("source", self.sources)):
            if values:
                clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
                params.extend(values)
        if self.skills:
            clauses.append("list_has_any(skills, ?::VARCHAR[])")
            params.append(list(self.skills))
        if self.companies:
            clauses.append("(" + " OR ".join("company ILIKE ?" for _ in self.companies) + ")")
            params.extend(f"%{c}%" for c in self.companies)
        if self.years:
            clauses.append(f"year(posted) IN ({', '.join('?' * len(self.years))})")
            params.extend(self.years)
        if self.titles:
            clauses.append(f"lower(title) IN ({', '.join('?' * len(self.titles))})")
            params.extend(t.lower() for t in self.titles)
        return (" AND ".join(clauses) or "TRUE"), params

    def describe(self) -> dict[str, str]:
        out = {}
        for name in ("cities", "roles", "skills", "companies", "years", "sources", "titles"):
            values = getattr(self, name)
            if values:
                out[name] = ", ".join(str(v) for v in values)
        return out

    def with_(self, **changes: Any) -> Filters:
        from dataclasses import replace

        return replace(self, **changes)


def _provenance(db: SQL, where: str, params: list[Any]) -> tuple[str, str]:
    """(sources, period): each source with its own date range, since the boards are different snapshots."""
    rows = db.query(
        f"SELECT source, min(posted), max(posted) FROM postings WHERE {where} GROUP BY 1 ORDER BY 2", params
    )
    sources = ", ".join(f"{s} {a} to {b}" if a else f"{s} (dates unknown)" for s, a, b in rows)
    dated = [r for r in rows if r[1]]
    period = f"{min(r[1] for r in dated)} to {max(r[2] for r in dated)}" if dated else "dates unknown"
    return sources, period


def count(db: SQL, filters: Filters) -> list[Figure]:
    """Number of postings; with near-duplicates (same title, company, city) merged as a second figure."""
    where, params = filters.where()
    n, distinct = db.query(
        f"SELECT count(*), count(DISTINCT (lower(title), coalesce(company, ''), coalesce(city, ''))) "
        f"FROM postings WHERE {where}",
        params,
    )[0]
    source, period = _provenance(db, where, params)
    figures = [Figure("count", n, n, filters.describe(), source, period)]
    if distinct != n:
        figures.append(Figure("count_distinct_jobs", distinct, n, filters.describe(), source, period))
    return figures


def salary(db: SQL, filters: Filters) -> list[Figure]:
    """Median and middle half of monthly pay (CNY); n counts postings with a known range."""
    where, params = filters.where()
    row = db.query(
        f"""SELECT count(*), median(mid), quantile_cont(mid, 0.25), quantile_cont(mid, 0.75), min(mid), max(mid)
            FROM (SELECT (salary_min + salary_max) / 2 AS mid FROM postings
                  WHERE {where} AND salary_min IS NOT NULL AND salary_max IS NOT NULL)""",
        params,
    )[0]
    n = row[0]
    if not n:
        return []
    source, period = _provenance(db, where + " AND salary_min IS NOT NULL AND salary_max IS NOT NULL", params)
    described = filters.describe()
    names = ("salary_median", "salary_p25", "salary_p75")
    values = zip(names, row[1:4], strict=True)
    return [Figure(name, round(float(value), 1), n, described, source, period) for name, value in values]


_TOP_COLUMN = {
    "city": "city",
    "company": "company",
    "title": "title",
    "role": "role_family",
}


def top(db: SQL, filters: Filters, dimension: str, limit: int = 5) -> list[Figure]:
    """The most frequent cities, companies, titles, roles or skills among the filtered postings."""
    where, params = filters.where()
    if dimension == "skill":
        sql = (
            f"SELECT s, count(*) FROM (SELECT unnest(skills) AS s FROM postings WHERE {where}) "
            "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?"
        )
    else:
        column = _TOP_COLUMN[dimension]
        sql = (
            f"SELECT {column}, count(*) FROM postings WHERE {where} AND {column} IS NOT NULL "
            "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?"
        )
    rows = db.query(sql, [*params, limit])
    total = db.query(f"SELECT count(*) FROM postings WHERE {where}", params)[0][0]
    source, period = _provenance(db, where, params)
    described = filters.describe()
    return [
        Figure(f"top_{dimension}", int(c), total, {**described, dimension: str(value)}, source, period)
        for value, c in rows
    ]


def share(db: SQL, part: Filters, whole: Filters) -> list[Figure]:
    """The share of `whole`'s postings that also match `part`, in percent."""
    where_part, p_part = part.where()
    where_whole, p_whole = whole.where()
    n_whole = db.query(f"SELECT count(*) FROM postings WHERE {where_whole}", p_whole)[0][0]
    if not n_whole:
        return []
    n_part = db.query(f"SELECT count(*) FROM postings WHERE {where_part}", p_part)[0][0]
    source, period = _provenance(db, where_whole, p_whole)
    return [Figure("share_percent", round(100 * n_part / n_whole, 1), n_whole, part.describe(), source, period)]


def by_year(db: SQL, filters: Filters) -> list[Figure]:
    """Postings per year and source, with the median pay of each (a trend across snapshots)."""
    where, params = filters.where()
    rows = db.query(
        f"""SELECT year(posted) AS y, source, count(*),
                   median((salary_min + salary_max) / 2)
                       FILTER (WHERE salary_min IS NOT NULL AND salary_max IS NOT NULL),
                   count(*) FILTER (WHERE salary_min IS NOT NULL AND salary_max IS NOT NULL)
            FROM postings WHERE {where} AND posted IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2""",
        params,
    )
    figures = []
    for year, source, n, med, paid in rows:
        described = {**filters.describe(), "year": str(year), "source": source}
        figures.append(Figure("count", int(n), int(n), described, source, str(year)))
        if med is not None:
            figures.append(Figure("salary_median", round(float(med), 1), int(paid), described, source, str(year)))
    return figures


def examples(db: SQL, filters: Filters, limit: int = 3) -> list[Citation]:
    """Real postings behind a figure, newest first, each cited by file and row."""
    where, params = filters.where()
    rows = db.query(
        f"""SELECT source_file, "row", summary FROM postings WHERE {where}
            ORDER BY (salary_min IS NULL), posted DESC NULLS LAST, posting_id LIMIT ?""",
        [*params, limit],
    )
    return [Citation(source_file=f, locator=f"row {r}", text=s, kind="posting") for f, r, s in rows]


#: How a figure's filters name each restriction: `Filters.describe` keys, and the single-value keys that
#: `top` (one entry of a top list) and `by_year` (one year and source) add on top of them.
_PLURAL = ("cities", "roles", "skills", "companies", "years", "sources", "titles")
_SINGULAR = {"city": "cities", "role": "roles", "company": "companies", "year": "years", "source": "sources",
             "title": "titles"}  # fmt: skip
ROW_COLUMNS = ("title", "company", "city", "salary_raw", "salary_min", "salary_max", "months_per_year", "posted",
               "role_family", "skills", "source", "source_file", "row")  # fmt: skip


def filters_of(figure: Figure) -> tuple[Filters, tuple[str, ...]]:
    """The postings filters a figure was computed with, read back from its `filters` description, and the
    skills every row must have (a "top skills" entry: the postings that list that skill).

    A single-value key (one city of a top list, one year of a trend) replaces the list it was taken from.

    Raises:
        ValueError: the description names a restriction this module does not produce.
    """
    fields: dict[str, tuple[Any, ...]] = {}
    for key, text in figure.filters.items():
        if key in _PLURAL:
            fields.setdefault(key, tuple(text.split(", ")))
        elif key not in _SINGULAR and key != "skill":
            raise ValueError(f"figure {figure.name!r} has an unknown filter {key!r}")
    for key, name in _SINGULAR.items():
        if key in figure.filters:
            fields[name] = (figure.filters[key],)
    if "years" in fields:
        fields["years"] = tuple(int(y) for y in fields["years"])
    required = (figure.filters["skill"],) if "skill" in figure.filters else ()
    return Filters(**fields), required


def rows_behind(db: SQL, figure: Figure) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The postings a figure was computed from, newest first, for a person to check it (header, rows).

    Salary figures rest only on postings with both ends of the range known, so only those are returned;
    a top-list entry returns the postings of that entry (as many rows as its value).
    """
    filters, required = filters_of(figure)
    where, params = filters.where()
    for skill in required:
        where += " AND list_contains(skills, ?)"
        params.append(skill)
    if figure.name.startswith("salary_"):
        where += " AND salary_min IS NOT NULL AND salary_max IS NOT NULL"
    quoted = ", ".join(f'"{c}"' for c in ROW_COLUMNS)
    sql = f'SELECT {quoted} FROM postings WHERE {where} ORDER BY posted DESC NULLS LAST, source_file, "row"'
    return list(ROW_COLUMNS), db.query(sql, params)


def known_values(db: SQL) -> dict[str, set[str]]:
    """Cities, roles and sources present in the table: a filter outside these has no postings."""
    out: dict[str, set[str]] = {}
    for name, column in (("cities", "city"), ("roles", "role_family"), ("sources", "source")):
        out[name] = {r[0] for r in db.query(f"SELECT DISTINCT {column} FROM postings WHERE {column} IS NOT NULL")}
    return out
