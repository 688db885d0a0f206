"""Market figures computed exactly with SQL over the postings table.

Every figure carries n (the postings it rests on), the filters applied, and the data's source and
period. Salaries are monthly CNY as normalized at ingest (per year ÷ 12, per day × 21.75 working days,
per hour × 8 × 21.75); a posting's pay is the midpoint of its advertised range, and only postings whose
range has both ends known count toward salary figures.
"""

from __future__ import annotations

from typing import Any, Protocol

from assistant.schema import Citation, Figure, Filters

#: Below this many postings a figure is flagged as thin evidence.
THIN = 10
SALARY_RULE = "monthly CNY, midpoint of each posting's advertised range; yearly pay ÷ 12, daily × 21.75 working days"


class SQL(Protocol):
    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]: ...


#: The posting's monthly pay for pay filters and figures: the midpoint of its advertised range.
MID = "(salary_min + salary_max) / 2"
#: Education level of a posting from the text the board wrote (本科, 硕士, 学历不限, ...), highest named wins.
EDUCATION_SQL = """CASE
    WHEN education IS NULL THEN NULL
    WHEN education LIKE '%博士%' OR lower(education) LIKE '%phd%' OR lower(education) LIKE '%doctor%' THEN 'phd'
    WHEN education LIKE '%硕士%' OR education LIKE '%研究生%' OR lower(education) LIKE '%master%' THEN 'master'
    WHEN education LIKE '%本科%' OR lower(education) LIKE '%bachelor%' THEN 'bachelor'
    WHEN education LIKE '%大专%' OR education LIKE '%专科%' OR lower(education) LIKE '%college%' THEN 'college'
    WHEN education LIKE '%高中%' OR education LIKE '%中专%' OR education LIKE '%中技%' OR education LIKE '%初中%'
        THEN 'secondary'
    WHEN education LIKE '%不限%' OR lower(education) LIKE '%any%' THEN 'any'
    ELSE NULL END"""
#: The minimum years of experience a posting asks for: the first number in its text, 0 for graduates/none.
EXPERIENCE_SQL = """CASE
    WHEN experience IS NULL THEN NULL
    WHEN regexp_matches(experience, '应届|在校|无需|无经验|不限|1年以下|no experience|graduate') THEN 0
    WHEN regexp_matches(experience, '[0-9]+') THEN CAST(regexp_extract(experience, '([0-9]+)', 1) AS INTEGER)
    ELSE NULL END"""


def sql_where(filters: Filters) -> tuple[str, list[Any]]:
    """A SQL condition over `postings` for the filters, and its parameters."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, values in (("city", filters.cities), ("role_family", filters.roles), ("source", filters.sources)):
        if values:
            clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
            params.extend(values)
    if filters.skills:
        clauses.append("list_has_any(skills, ?::VARCHAR[])")
        params.append(list(filters.skills))
    if filters.companies:
        clauses.append("(" + " OR ".join("company ILIKE ?" for _ in filters.companies) + ")")
        params.extend(f"%{c}%" for c in filters.companies)
    if filters.years:
        clauses.append(f"year(posted) IN ({', '.join('?' * len(filters.years))})")
        params.extend(filters.years)
    if filters.titles:
        clauses.append(f"lower(title) IN ({', '.join('?' * len(filters.titles))})")
        params.extend(t.lower() for t in filters.titles)
    if filters.title_terms:
        clauses.append("(" + " OR ".join("title ILIKE ?" for _ in filters.title_terms) + ")")
        params.extend(f"%{t}%" for t in filters.title_terms)
    if filters.pay_min is not None or filters.pay_max is not None:
        clauses.append("salary_min IS NOT NULL AND salary_max IS NOT NULL")
    if filters.pay_min is not None:
        clauses.append(f"{MID} > ?")
        params.append(filters.pay_min)
    if filters.pay_max is not None:
        clauses.append(f"{MID} < ?")
        params.append(filters.pay_max)
    if filters.education:
        clauses.append(f"({EDUCATION_SQL}) IN ({', '.join('?' * len(filters.education))})")
        params.extend(filters.education)
    if filters.experience_years is not None:
        clauses.append(f"({EXPERIENCE_SQL}) BETWEEN ? AND ?")
        params.extend(filters.experience_years)
    return (" AND ".join(clauses) or "TRUE"), params


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
    """Number of postings, and, when they differ from it:

    - `count_rows`: the rows of the files behind them (an exactly repeated row, or a board's job id listed
      again, is one posting);
    - `count_distinct_jobs`: with near-duplicates (same title, company and city) merged, or
      `count_distinct_title_city` when none of these postings names a company (then title and city are all
      the rule can compare).
    """
    where, params = sql_where(filters)
    n, rows, with_company, distinct = db.query(
        f"SELECT count(*), coalesce(sum(times_listed), 0), count(company), "
        f"count(DISTINCT (lower(title), coalesce(company, ''), coalesce(city, ''))) FROM postings WHERE {where}",
        params,
    )[0]
    source, period = _provenance(db, where, params)
    described = filters.describe()
    figures = [Figure("count", n, n, described, source, period, filters)]
    if rows != n:
        figures.append(Figure("count_rows", int(rows), n, described, source, period, filters))
    if distinct != n:
        name = "count_distinct_jobs" if with_company else "count_distinct_title_city"
        figures.append(Figure(name, distinct, n, described, source, period, filters))
    return figures


_PAID = "salary_min IS NOT NULL AND salary_max IS NOT NULL"


def salary(db: SQL, filters: Filters) -> list[Figure]:
    """Median and middle half of monthly pay (CNY); n counts postings with a known range."""
    where, params = sql_where(filters)
    row = db.query(
        f"""SELECT count(*), median(mid), quantile_cont(mid, 0.25), quantile_cont(mid, 0.75), min(mid), max(mid)
            FROM (SELECT {MID} AS mid FROM postings WHERE {where} AND {_PAID})""",
        params,
    )[0]
    n = row[0]
    if not n:
        return []
    source, period = _provenance(db, f"{where} AND {_PAID}", params)
    described = filters.describe()
    names = ("salary_median", "salary_p25", "salary_p75")
    values = zip(names, row[1:4], strict=True)
    return [Figure(name, round(float(value), 1), n, described, source, period, filters) for name, value in values]


def pay_position(db: SQL, filters: Filters, pay: float) -> list[Figure]:
    """Where a monthly pay stands among the postings: the percent of postings with pay that advertise less
    (midpoint below it), and the percent that advertise more; n counts postings with a known range."""
    where, params = sql_where(filters)
    n, below, above = db.query(
        f"SELECT count(*), count(*) FILTER (WHERE {MID} < ?), count(*) FILTER (WHERE {MID} > ?) "
        f"FROM postings WHERE {where} AND {_PAID}",
        [pay, pay, *params],
    )[0]
    if not n:
        return []
    source, period = _provenance(db, f"{where} AND {_PAID}", params)
    described = {**filters.describe(), "pay": f"{pay:,.0f}"}
    return [
        Figure("percent_paying_less", round(100 * below / n, 1), n, described, source, period, filters),
        Figure("percent_paying_more", round(100 * above / n, 1), n, described, source, period, filters),
    ]


def pay_at_share(db: SQL, filters: Filters, share: float) -> list[Figure]:
    """The monthly pay with `share` (0-1) of the postings with pay below it (`quantile_cont` of the midpoints):
    the pay at the same position as a pay placed elsewhere; n counts postings with a known range."""
    where, params = sql_where(filters)
    n, value = db.query(
        f"SELECT count(*), quantile_cont({MID}, ?) FROM postings WHERE {where} AND {_PAID}", [share, *params]
    )[0]
    if not n:
        return []
    source, period = _provenance(db, f"{where} AND {_PAID}", params)
    described = {**filters.describe(), "share": f"{100 * share:.1f}"}
    return [Figure("pay_at_same_position", round(float(value), 1), n, described, source, period, filters)]


#: A posting's yearly total: its monthly midpoint times the months a year it states ("·14薪"), else 12.
YEARLY = f"{MID} * coalesce(months_per_year, 12)"


def yearly_pay_position(db: SQL, filters: Filters, yearly: float) -> list[Figure]:
    """Where a yearly package stands among the postings' yearly totals (monthly midpoint × the months a year the
    posting states, 12 when it states none): the percent below and above it, the median yearly total, and how
    many postings state their months (`months_stated`); n counts postings with a known range."""
    where, params = sql_where(filters)
    n, below, above, stated, middle = db.query(
        f"SELECT count(*), count(*) FILTER (WHERE {YEARLY} < ?), count(*) FILTER (WHERE {YEARLY} > ?), "
        f"count(months_per_year), median({YEARLY}) FROM postings WHERE {where} AND {_PAID}",
        [yearly, yearly, *params],
    )[0]
    if not n:
        return []
    source, period = _provenance(db, f"{where} AND {_PAID}", params)
    described = {**filters.describe(), "yearly_pay": f"{yearly:,.0f}"}
    return [
        Figure("percent_paying_less_yearly", round(100 * below / n, 1), n, described, source, period, filters),
        Figure("percent_paying_more_yearly", round(100 * above / n, 1), n, described, source, period, filters),
        Figure("yearly_median", round(float(middle), 1), n, described, source, period, filters),
        Figure("months_stated", int(stated), n, described, source, period, filters),
    ]


_TOP_COLUMN = {
    "city": "city",
    "company": "company",
    "title": "title",
    "role": "role_family",
    "education": f"({EDUCATION_SQL})",
    "experience": f"({EXPERIENCE_SQL})",
}
_NARROW = {"city": "cities", "company": "companies", "title": "titles", "role": "roles"}
#: A ranking by median pay leaves out groups with fewer postings with pay than this.
MIN_RANKED = 20


def top(db: SQL, filters: Filters, dimension: str, limit: int = 5) -> list[Figure]:
    """The most frequent cities, companies, titles, roles, skills, education levels or experience years
    among the filtered postings. For education and experience, n is the postings that state one."""
    where, params = sql_where(filters)
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
    if dimension in ("education", "experience"):
        column = _TOP_COLUMN[dimension]
        total = db.query(f"SELECT count(*) FROM postings WHERE {where} AND {column} IS NOT NULL", params)[0][0]
    else:
        total = db.query(f"SELECT count(*) FROM postings WHERE {where}", params)[0][0]
    source, period = _provenance(db, where, params)
    described = filters.describe()
    return [
        Figure(
            f"top_{dimension}",
            int(c),
            total,
            {**described, dimension: str(value)},
            source,
            period,
            _entry(filters, dimension, value),
        )  # fmt: skip
        for value, c in rows
    ]


def _entry(filters: Filters, dimension: str, value: Any) -> Filters:
    """The population of one entry of a ranking (one city, one company...)."""
    if dimension in _NARROW:
        return filters.with_(**{_NARROW[dimension]: (str(value),)})
    if dimension == "education":
        return filters.with_(education=(str(value),))
    if dimension == "experience":
        return filters.with_(experience_years=(int(value), int(value)))
    return filters  # a skill: `filters_of` adds the skill every row must list


def top_by_pay(db: SQL, filters: Filters, dimension: str, limit: int = 5) -> list[Figure]:
    """Cities, companies, titles or roles ranked by median monthly pay, among those with at least
    `MIN_RANKED` postings with pay; each figure's n is its own postings with pay."""
    where, params = sql_where(filters)
    column = _TOP_COLUMN[dimension]
    rows = db.query(
        f"""SELECT {column}, median({MID}), count(*) FROM postings
            WHERE {where} AND {_PAID} AND {column} IS NOT NULL
            GROUP BY 1 HAVING count(*) >= ? ORDER BY 2 DESC, 3 DESC, 1 LIMIT ?""",
        [*params, MIN_RANKED, limit],
    )
    source, period = _provenance(db, f"{where} AND {_PAID}", params)
    described = filters.describe()
    return [
        Figure(
            f"top_{dimension}_by_pay",
            round(float(med), 1),
            int(n),
            {**described, dimension: str(value)},
            source,
            period,
            _entry(filters, dimension, value),
        )  # fmt: skip
        for value, med, n in rows
    ]


def share(db: SQL, part: Filters, whole: Filters) -> list[Figure]:
    """The share of `whole`'s postings that also match `part`, in percent."""
    where_part, p_part = sql_where(part)
    where_whole, p_whole = sql_where(whole)
    n_whole = db.query(f"SELECT count(*) FROM postings WHERE {where_whole}", p_whole)[0][0]
    if not n_whole:
        return []
    n_part = db.query(f"SELECT count(*) FROM postings WHERE {where_part}", p_part)[0][0]
    source, period = _provenance(db, where_whole, p_whole)
    return [Figure("share_percent", round(100 * n_part / n_whole, 1), n_whole, part.describe(), source, period,
                   part)]  # fmt: skip


def by_year(db: SQL, filters: Filters) -> list[Figure]:
    """Postings per year and source, with the median pay of each (a trend across snapshots)."""
    where, params = sql_where(filters)
    rows = db.query(
        f"""SELECT year(posted) AS y, source, count(*),
                   median({MID}) FILTER (WHERE {_PAID}),
                   count(*) FILTER (WHERE {_PAID})
            FROM postings WHERE {where} AND posted IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2""",
        params,
    )
    figures = []
    for year, source, n, med, paid in rows:
        described = {**filters.describe(), "year": str(year), "source": source}
        subject = filters.with_(years=(int(year),), sources=(source,))
        figures.append(Figure("count", int(n), int(n), described, source, str(year), subject))
        if med is not None:
            figures.append(Figure("salary_median", round(float(med), 1), int(paid), described, source, str(year),
                                  subject))  # fmt: skip
    return figures


def examples(db: SQL, filters: Filters, limit: int = 3) -> list[Citation]:
    """Real postings behind a figure, newest first, each cited by file and row."""
    where, params = sql_where(filters)
    rows = db.query(
        f"""SELECT source_file, "row", summary FROM postings WHERE {where}
            ORDER BY (salary_min IS NULL), posted DESC NULLS LAST, posting_id LIMIT ?""",
        [*params, limit],
    )
    return [Citation(source_file=f, locator=f"row {r}", text=s, kind="posting") for f, r, s in rows]


ROW_COLUMNS = ("title", "company", "city", "salary_raw", "salary_min", "salary_max", "months_per_year", "posted",
               "role_family", "skills", "education", "experience", "source", "source_file", "row")  # fmt: skip


def filters_of(figure: Figure) -> tuple[Filters, tuple[str, ...]]:
    """The population a figure was computed over (its typed `subject`), and the skills every row must have
    (a "top skills" entry: the postings that list that skill).

    Raises:
        ValueError: the figure carries no subject (it was not computed by this module).
    """
    if figure.subject is None:
        raise ValueError(f"figure {figure.name!r} carries no subject to find its rows")
    required = (figure.filters["skill"],) if figure.name == "top_skill" and "skill" in figure.filters else ()
    return figure.subject, required


def rows_behind(db: SQL, figure: Figure) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The postings a figure was computed from, newest first, for a person to check it (header, rows).

    Salary figures rest only on postings with both ends of the range known, so only those are returned;
    a top-list entry returns the postings of that entry (as many rows as its value).
    """
    filters, required = filters_of(figure)
    where, params = sql_where(filters)
    for skill in required:
        where += " AND list_contains(skills, ?)"
        params.append(skill)
    if figure.name.startswith(("salary_", "percent_paying")) or figure.name.endswith("_by_pay"):
        where += f" AND {_PAID}"
    elif figure.name in ("top_education", "top_experience"):
        where += f" AND ({_TOP_COLUMN[figure.name.removeprefix('top_')]}) IS NOT NULL"
    quoted = ", ".join(f'"{c}"' for c in ROW_COLUMNS)
    sql = f'SELECT {quoted} FROM postings WHERE {where} ORDER BY posted DESC NULLS LAST, source_file, "row"'
    return list(ROW_COLUMNS), db.query(sql, params)


def facets(db: SQL, min_city_postings: int = 1) -> dict[str, list[tuple[Any, int]]]:
    """Values the store holds for filtering, each with its number of postings, most first: cities (with at
    least `min_city_postings`), role families, years posted, boards."""
    return {
        "cities": [(c, n) for c, n in db.query(
            "SELECT city, count(*) FROM postings WHERE city IS NOT NULL GROUP BY 1 HAVING count(*) >= ? "
            "ORDER BY 2 DESC, 1", [min_city_postings])],
        "roles": [(r, n) for r, n in db.query(
            "SELECT role_family, count(*) FROM postings GROUP BY 1 ORDER BY 2 DESC, 1")],
        "years": [(y, n) for y, n in db.query(
            "SELECT year(posted), count(*) FROM postings WHERE posted IS NOT NULL GROUP BY 1 ORDER BY 1")],
        "sources": [(s, n) for s, n in db.query(
            "SELECT source, count(*) FROM postings GROUP BY 1 ORDER BY 2 DESC, 1")],
    }  # fmt: skip


def coverage(db: SQL) -> list[tuple[str, int | None, int | None, int]]:
    """Each source with its first and last year and its number of postings, oldest first."""
    return db.query("SELECT source, min(year(posted)), max(year(posted)), count(*) FROM postings GROUP BY 1 ORDER BY 2")


def counts_in_years(db: SQL, filters: Filters, years: tuple[int, ...]) -> tuple[int, int]:
    """(postings in those years, all postings) for the filters, in one query."""
    where, params = sql_where(filters)
    marks = ", ".join("?" * len(years))
    row = db.query(
        f"SELECT count(*) FILTER (WHERE year(posted) IN ({marks})), count(*) FROM postings WHERE {where}",
        [*years, *params],
    )[0]
    return int(row[0]), int(row[1])


def per_source(db: SQL, filters: Filters) -> list[tuple[str, int]]:
    """Postings per job board for the filters."""
    where, params = sql_where(filters)
    return db.query(f"SELECT source, count(*) FROM postings WHERE {where} GROUP BY 1 ORDER BY 1", params)


def years_and_boards(db: SQL, filters: Filters) -> tuple[int, int, tuple[str, ...]] | None:
    """(first year, last year, boards) of the dated postings matching the filters; None when none is dated."""
    where, params = sql_where(filters)
    row = db.query(
        f"SELECT min(year(posted)), max(year(posted)), list(DISTINCT source ORDER BY source) FROM postings "
        f"WHERE {where} AND posted IS NOT NULL",
        params,
    )[0]
    return None if row[0] is None else (int(row[0]), int(row[1]), tuple(row[2]))


def has_postings(db: SQL, filters: Filters) -> bool:
    where, params = sql_where(filters)
    return bool(db.query(f"SELECT count(*) FROM postings WHERE {where}", params)[0][0])


def newest_year(db: SQL) -> int | None:
    """The newest year the postings cover: what "this year" means for this data."""
    row = db.query("SELECT max(year(posted)) FROM postings")[0]
    return int(row[0]) if row and row[0] is not None else None


def titles_containing(db: SQL, term: str) -> int:
    return int(db.query("SELECT count(*) FROM postings WHERE title ILIKE ?", [f"%{term}%"])[0][0])


def known_values(db: SQL) -> dict[str, set[str]]:
    """Cities, roles and sources present in the table: a filter outside these has no postings."""
    out: dict[str, set[str]] = {}
    for name, column in (("cities", "city"), ("roles", "role_family"), ("sources", "source")):
        out[name] = {r[0] for r in db.query(f"SELECT DISTINCT {column} FROM postings WHERE {column} IS NOT NULL")}
    return out


def passages(db: SQL, kind: str, ids: list[str] | None = None) -> list[tuple[Any, ...]]:
    """Retrievable texts: (id, text, source file, locator, title, city, role family, board), for the given ids
    or all of them. Articles' chunks have no city, role or board ('')."""
    if kind == "article":
        sql = """SELECT chunk_id, text, source_file, 'chunk ' || (position + 1), title, '', '', ''
                 FROM chunks {where} ORDER BY source_file, position"""
        column = "chunk_id"
    else:
        sql = """SELECT posting_id, summary, source_file, 'row ' || "row", title, coalesce(city, ''), role_family,
                        source FROM postings {where} ORDER BY posting_id"""
        column = "posting_id"
    if ids is None:
        return db.query(sql.format(where=""))
    if not ids:
        return []
    where = f"WHERE {column} IN ({', '.join('?' * len(ids))})"
    return db.query(sql.format(where=where), list(ids))


#: Okapi BM25's parameters, as rank_bm25 sets them (`BM25Okapi`): term saturation, length normalisation, and
#: the share of the average idf that a term in more than half the documents gets.
BM25_K1, BM25_B, BM25_EPSILON = 1.5, 0.75, 0.25


def lexical_stats(db: SQL) -> tuple[int, float, float]:
    """(documents, their mean length in terms, the mean idf over the vocabulary) of the BM25 term tables."""
    n, avgdl = db.query("SELECT count(*), coalesce(avg(length), 1) FROM lexical_docs")[0]
    mean_idf = db.query("SELECT coalesce(avg(ln(? - df + 0.5) - ln(df + 0.5)), 0) FROM lexical_df", [n])[0][0]
    return int(n), float(avgdl), float(mean_idf)


def lexical_search(
    db: SQL, tokens: list[str], kind: str, filters: Filters | None, limit: int, stats: tuple[int, float, float]
) -> list[tuple[str, float]]:
    """The `limit` best (id, BM25 score) of a kind's documents for the query tokens (each occurrence counts, as
    in rank_bm25's `get_scores`); postings can be narrowed to cities, roles and boards."""
    n, avgdl, mean_idf = stats
    counts: dict[str, int] = {}
    for token in tokens:
        counts[token] = counts.get(token, 0) + 1
    terms = sorted(counts)
    values = ", ".join("(?, ?)" for _ in terms)
    params: list[Any] = [x for term in terms for x in (term, counts[term])]
    params += [*terms, kind]
    narrow = ""
    if kind == "posting" and filters is not None:
        clauses = []
        for column, wanted in (("city", filters.cities), ("role_family", filters.roles), ("source", filters.sources)):
            if wanted:
                clauses.append(f"coalesce({column}, '') IN ({', '.join('?' * len(wanted))})")
                params.extend(wanted)
        if clauses:
            narrow = f"AND t.doc IN (SELECT hash('posting:' || posting_id) FROM postings WHERE {' AND '.join(clauses)})"
    floor = BM25_EPSILON * mean_idf
    norm = f"{BM25_K1} * (1 - {BM25_B} + {BM25_B} * t.length / {avgdl!r})"
    # Every matching document is scored; those at or above the `limit`-th score are then named (ties by id).
    rows = db.query(
        f"""WITH q(term, times) AS (VALUES {values}),
            w AS (SELECT q.term, q.times, ln({n} - f.df + 0.5) - ln(f.df + 0.5) AS raw
                  FROM q JOIN lexical_df f USING (term)),
            scored AS MATERIALIZED (
                SELECT t.doc, sum(w.times * (CASE WHEN w.raw < 0 THEN {floor!r} ELSE w.raw END)
                                  * t.tf * {BM25_K1 + 1} / (t.tf + {norm})) AS score
                FROM lexical_terms t JOIN w USING (term)
                WHERE t.term IN ({", ".join("?" * len(terms))}) AND t.kind = ? {narrow}
                GROUP BY t.doc),
            cut AS (SELECT min(score) AS low FROM (SELECT score FROM scored ORDER BY score DESC LIMIT {int(limit)}))
            SELECT d.id, s.score FROM scored s JOIN lexical_docs d USING (doc), cut
            WHERE s.score >= cut.low ORDER BY s.score DESC, d.id LIMIT {int(limit)}""",
        params,
    )
    return [(row[0], float(row[1])) for row in rows if row[1] > 0]


def lexical_terms_present(db: SQL, terms: list[str], kind: str) -> set[str]:
    """Which of these terms occur in some document of the kind: the first row of each term's run (the term rows
    are sorted by term), not every row (a common word has hundreds of thousands: 5 ms against 800 at 1M)."""
    if not terms:
        return set()
    first = " UNION ALL ".join("(SELECT term FROM lexical_terms WHERE term = ? AND kind = ? LIMIT 1)" for _ in terms)
    return {r[0] for r in db.query(first, [x for term in terms for x in (term, kind)])}


def live_vector_keys(db: SQL, kind: str, keys: list[str], filters: Filters | None = None) -> set[str]:
    """Which of these vector record ids the generation uses (the others are dead records of older ones); with
    `filters` (postings), only those a posting that passes them uses.

    Two lookups by constant lists (keys, then posting ids), each answered from an index."""
    if not keys:
        return set()
    table = "posting_vectors" if kind == "posting" else "chunk_vectors"
    marks = ", ".join("?" * len(keys))
    if filters is None or kind != "posting":
        return {r[0] for r in db.query(f"SELECT DISTINCT vector_key FROM {table} WHERE vector_key IN ({marks})", keys)}
    where, params = sql_where(filters)
    if len(keys) > _LOOKUPS_UP_TO:
        # Past a few hundred keys one join is cheaper than two lookups by list (3,000 keys at 1M: 80 vs 180 ms).
        rows = db.query(
            f"""SELECT DISTINCT v.vector_key FROM posting_vectors v JOIN postings USING (posting_id)
                            WHERE list_contains(?::VARCHAR[], v.vector_key) AND {where}""",
            [list(keys), *params],
        )
        return {r[0] for r in rows}
    pairs = db.query(f"SELECT vector_key, posting_id FROM posting_vectors WHERE vector_key IN ({marks})", list(keys))
    ids = sorted({pid for _, pid in pairs})
    if not ids:
        return set()
    passing = {r[0] for r in db.query(
        f"SELECT posting_id FROM postings WHERE posting_id IN ({', '.join('?' * len(ids))}) AND {where}", ids + params
    )}  # fmt: skip
    return {key for key, pid in pairs if pid in passing}


#: `live_vector_keys` looks up at most this many keys by list (an index each); more, by a join.
_LOOKUPS_UP_TO = 500


def share_passing(db: SQL, filters: Filters) -> float:
    """The share of postings that pass `filters` (how many of the nearest records a filtered search can expect
    to pass)."""
    where, params = sql_where(filters)
    row = db.query(f"SELECT count(*) FILTER (WHERE {where}), count(*) FROM postings", params)[0]
    return float(row[0]) / row[1] if row[1] else 0.0


def segment_keys_passing(db: SQL, segment: str, filters: Filters, most: int) -> list[str] | None:
    """The live records of a vector segment that a posting passing `filters` uses; None when more than `most`."""
    where, params = sql_where(filters)
    rows = db.query(
        f"""SELECT DISTINCT r.vector_key FROM postings p JOIN posting_vectors v USING (posting_id)
            JOIN vector_records r ON r.vector_key = v.vector_key AND r.kind = 'posting'
            WHERE r.segment = ? AND r.live AND {where} LIMIT {int(most) + 1}""",
        [segment, *params],
    )
    return None if len(rows) > most else [r[0] for r in rows]


def chunk_vector_keys(db: SQL, chunk_ids: list[str]) -> dict[str, str]:
    """chunk id -> the id of its vector record."""
    if not chunk_ids:
        return {}
    marks = ", ".join("?" * len(chunk_ids))
    rows = db.query(f"SELECT chunk_id, vector_key FROM chunk_vectors WHERE chunk_id IN ({marks})", list(chunk_ids))
    return {r[0]: r[1] for r in rows}


def passages_of_chunk_vectors(db: SQL, keys: list[str]) -> dict[str, tuple[Any, ...]]:
    """The chunk each vector record is, shaped like `passages`' rows (without the key). Maps key -> row."""
    if not keys:
        return {}
    rows = db.query(
        f"""SELECT v.vector_key, c.chunk_id, c.text, c.source_file, 'chunk ' || (c.position + 1), c.title, '', '', ''
            FROM chunk_vectors v JOIN chunks c USING (chunk_id) WHERE v.vector_key IN ({", ".join("?" * len(keys))})""",
        list(keys),
    )
    return {row[0]: row[1:] for row in rows}


def passages_of_vectors(db: SQL, keys: list[str]) -> dict[str, tuple[Any, ...]]:
    """The posting that stands for each vector record (postings sharing one have the same embedded text):
    the most recently posted, then the lowest id. Maps vector key -> a row shaped like `passages`'.

    Two lookups by constant lists (keys, then posting ids), each answered from an index, instead of a join
    that reads every posting."""
    if not keys:
        return {}
    marks = ", ".join("?" * len(keys))
    pairs = db.query(f"SELECT vector_key, posting_id FROM posting_vectors WHERE vector_key IN ({marks})", list(keys))
    if not pairs:
        return {}
    ids = sorted({pid for _, pid in pairs})
    rows = db.query(
        f"""SELECT posting_id, summary, source_file, 'row ' || "row", title, coalesce(city, ''), role_family, source,
                   posted FROM postings WHERE posting_id IN ({", ".join("?" * len(ids))})""",
        ids,
    )
    by_id = {row[0]: row for row in rows}
    best: dict[str, tuple[tuple[Any, ...], tuple[Any, ...]]] = {}
    for key, pid in pairs:
        row = by_id.get(pid)
        if row is None:
            continue
        posted = row[8]
        rank = (posted is None, -posted.toordinal() if posted is not None else 0, pid)  # newest first, then id
        if key not in best or rank < best[key][0]:
            best[key] = (rank, row[:8])
    return {key: row for key, (_, row) in best.items()}
