"""The postings table for exact figures, in DuckDB. The only module that imports duckdb.

`file_rows` keeps every parsed row of every file (so a changed file replaces just its rows);
`postings` is derived from it with one row per posting: the same board job found under several
search keywords, or an exactly repeated row, is one posting that keeps all its keywords.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import duckdb

from assistant.errors import RuntimeFailure
from assistant.schema import Chunk, Posting

_ROW_COLUMNS: dict[str, str] = {
    "file_key": "VARCHAR",
    "source_file": "VARCHAR",
    "row": "INTEGER",
    "posting_id": "VARCHAR",
    "source": "VARCHAR",
    "board_job_id": "VARCHAR",
    "title": "VARCHAR",
    "company": "VARCHAR",
    "city": "VARCHAR",
    "city_raw": "VARCHAR",
    "district": "VARCHAR",
    "salary_raw": "VARCHAR",
    "salary_min": "DOUBLE",
    "salary_max": "DOUBLE",
    "salary_period": "VARCHAR",
    "months_per_year": "INTEGER",
    "posted": "DATE",
    "posted_raw": "VARCHAR",
    "date_precision": "VARCHAR",
    "role_family": "VARCHAR",
    "skills": "VARCHAR[]",
    "keywords": "VARCHAR[]",
    "experience": "VARCHAR",
    "education": "VARCHAR",
    "description": "VARCHAR",
    "summary": "VARCHAR",
}
_CHUNK_COLUMNS: dict[str, str] = {
    "file_key": "VARCHAR",
    "chunk_id": "VARCHAR",
    "article_id": "VARCHAR",
    "source_file": "VARCHAR",
    "title": "VARCHAR",
    "position": "INTEGER",
    "text": "VARCHAR",
}
#: DuckDB's working memory per connection (queries and loads past it spill to a temporary folder).
_MEMORY_LIMIT = "128MB"
#: ... and once the table is written and only scanned (a lower limit makes DuckDB evict its cache).
_SCAN_LIMIT = "64MB"
#: DuckDB's working memory grows with the store past the limits above, by this many bytes a posting: deriving
#: the postings joins every posting's key and keywords to its first row, and the vector-key and posting-id
#: indexes (ART) are held in memory (measured at 1M rows with 950k distinct near-duplicate groups: the
#: derivation failed at 128 MB and passed at 256 MB; the key indexes and the anti-joins of `reconcile_records`
#: failed at 145 MB). Linear in the postings, a few hundred MB at a million.
_BYTES_PER_ROW = 320
#: Rows fetched per query when every posting is read (see `posting_records`).
_PAGE_ROWS = 20_000
#: kind -> (the table mapping its items to vector records, the item id column)
_VECTOR_MAP = {"posting": ("posting_vectors", "posting_id"), "article": ("chunk_vectors", "chunk_id")}
_PER_POSTING = [c for c in _ROW_COLUMNS if c not in ("file_key", "keywords", "posting_id")]
_POSTING_FIELDS = tuple(f.name for f in fields(Posting))


class PostingsTable:
    """The analytical side of a store generation: `postings.duckdb` in the generation folder."""

    def __init__(self, path: Path, read_only: bool = False) -> None:
        self.path = path
        try:
            self.con = duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as exc:
            raise RuntimeFailure(f"cannot open the postings table {path}: {exc}") from exc
        # DuckDB takes up to 80% of the machine's memory by default; bounded, it spills to disk instead
        # (beside the table), so a large file's load and the postings derivation stay flat.
        self.con.execute(f"SET memory_limit = '{_MEMORY_LIMIT}'")
        self.con.execute("SET preserve_insertion_order = false")
        if not read_only:
            self._create()
        elif self._has("postings"):  # a reader loads the id and key indexes, which grow with the store
            self.con.execute(f"SET memory_limit = '{_fitted(self.query('SELECT count(*) FROM postings')[0][0])}'")

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> PostingsTable:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _create(self) -> None:
        cols = ", ".join(f'"{name}" {kind}' for name, kind in _ROW_COLUMNS.items())
        self.con.execute(f"CREATE TABLE IF NOT EXISTS file_rows ({cols})")
        chunk_cols = ", ".join(f'"{name}" {kind}' for name, kind in _CHUNK_COLUMNS.items())
        self.con.execute(f"CREATE TABLE IF NOT EXISTS chunks ({chunk_cols})")
        self.con.execute("CREATE TABLE IF NOT EXISTS posting_vectors (posting_id VARCHAR, vector_key VARCHAR)")
        self.con.execute("CREATE TABLE IF NOT EXISTS chunk_vectors (chunk_id VARCHAR, vector_key VARCHAR)")
        # Looked up by key for every search (which records are live, which postings they stand for).
        self.con.execute("CREATE INDEX IF NOT EXISTS posting_vectors_key ON posting_vectors (vector_key)")
        self.con.execute("CREATE INDEX IF NOT EXISTS chunk_vectors_key ON chunk_vectors (vector_key)")
        # Every vector record the listed segments hold: live ones are mapped to a posting or chunk, dead ones
        # are kept for readers of older generations until their segment is folded into a new one.
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS vector_records "
            "(kind VARCHAR, vector_key VARCHAR, segment VARCHAR, live BOOLEAN)"
        )
        # BM25's term tables over postings and article chunks (documents, their terms, each term's document count).
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS lexical_docs (doc UBIGINT, kind VARCHAR, id VARCHAR, length INTEGER)"
        )
        # A term's row carries its document's length and kind: a search then reads this table alone.
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS lexical_terms "
            "(term VARCHAR, doc UBIGINT, tf INTEGER, length INTEGER, kind VARCHAR)"
        )
        self.con.execute("CREATE TABLE IF NOT EXISTS lexical_df (term VARCHAR, df INTEGER)")
        # The postings and chunks a run's file changes touch (this connection only): only they are derived again.
        self.con.execute("CREATE TEMP TABLE IF NOT EXISTS touched (posting_id VARCHAR)")
        self.con.execute("CREATE TEMP TABLE IF NOT EXISTS touched_chunks (chunk_id VARCHAR)")
        # The vector keys the touched postings used before and use now: the only records whose use can change.
        self.con.execute("CREATE TEMP TABLE IF NOT EXISTS key_candidates (kind VARCHAR, vector_key VARCHAR)")
        self._whole_map: set[str] = set()  # kinds whose map was replaced whole this run

    # -- writing ---------------------------------------------------------------------------------

    def replace_file(self, file_key: str, postings: Iterable[Posting] = (), chunks: Iterable[Chunk] = ()) -> int:
        """Load what a file contributes now in place of what it contributed before; returns the rows loaded.

        The new rows are streamed to a temporary file first: if reading them fails part way, or there are
        none, the file's rows in the table are left as they were (and 0 is returned for none).
        """
        rows = (_posting_row(file_key, p) for p in postings)
        chunk_rows = ({"file_key": file_key, **vars(c)} for c in chunks)
        with _Spool(self.path) as spool:
            n_rows, n_chunks = spool.write(rows, "rows"), spool.write(chunk_rows, "chunks")
            if not n_rows and not n_chunks:
                return 0
            self.con.begin()  # the old rows go and the new ones come in one transaction
            try:
                self.delete_file(file_key)
                if n_rows:
                    self._insert(spool.paths["rows"], "file_rows", _ROW_COLUMNS)
                if n_chunks:
                    self._insert(spool.paths["chunks"], "chunks", _CHUNK_COLUMNS)
                self.touch_file(file_key)
            except BaseException:
                self.con.rollback()
                raise
            self.con.commit()
        return n_rows + n_chunks

    def delete_file(self, file_key: str) -> None:
        self.touch_file(file_key)
        self.con.execute("DELETE FROM file_rows WHERE file_key = ?", [file_key])
        self.con.execute("DELETE FROM chunks WHERE file_key = ?", [file_key])

    def _insert(self, parts: list[Path], table: str, columns: dict[str, str]) -> None:
        # Row-by-row executemany costs ~0.7 ms a row in DuckDB; a JSONL scan loads 16k rows in ~40 ms.
        spec = ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items())
        names = ", ".join(f'"{name}"' for name in columns)
        for path in parts:
            self.con.execute(
                f"INSERT INTO {table} ({names}) SELECT {names} FROM read_json(?, format='newline_delimited', "
                f"columns={{{spec}}})",
                [str(path)],
            )

    def touch_file(self, file_key: str) -> None:
        """Note the postings and chunks a file holds now as touched (before its rows go, and after new ones come)."""
        self.con.execute("INSERT INTO touched SELECT DISTINCT posting_id FROM file_rows WHERE file_key = ?", [file_key])
        self.con.execute("INSERT INTO touched_chunks SELECT chunk_id FROM chunks WHERE file_key = ?", [file_key])

    def set_vector_keys(self, pairs: Iterable[tuple[str, str]], kind: str = "posting", touched: bool = False) -> None:
        """Record which vector record each posting (or chunk) uses: (its id, vector key).

        `touched`: the pairs are for the touched postings only; the others keep theirs. Otherwise the pairs
        replace the whole map."""
        table, column = _VECTOR_MAP[kind]
        mine = f"WHERE {column} IN (SELECT posting_id FROM touched)"
        if touched:
            self.con.execute(f"INSERT INTO key_candidates SELECT ?, vector_key FROM {table} {mine}", [kind])
            self.con.execute(f"DELETE FROM {table} {mine}")
        else:
            self._whole_map.add(kind)
            self.con.execute(f"DELETE FROM {table}")
        with _Spool(self.path) as spool:
            if spool.write(({column: p, "vector_key": k} for p, k in pairs), "pairs"):
                self._insert(spool.paths["pairs"], table, {column: "VARCHAR", "vector_key": "VARCHAR"})
        if touched:
            self.con.execute(f"INSERT INTO key_candidates SELECT ?, vector_key FROM {table} {mine}", [kind])

    # -- vector records (which segment holds each, and whether this generation uses it) ----------------

    def reconcile_records(self, kind: str) -> tuple[int, int, list[str]]:
        """Mark records no posting (chunk) maps to as dead and mapped dead ones as live again.

        Returns (retired, revived, keys mapped but held by no segment: the vectors to make). When only the
        touched postings were mapped again, only the keys they used before or use now are looked at (no other
        record's use changed): at a million postings the whole comparison took over a second."""
        table, _ = _VECTOR_MAP[kind]
        if kind in self._whole_map:
            among, mapped = "", f"(SELECT DISTINCT vector_key FROM {table})"
        else:
            cand = f"(SELECT vector_key FROM key_candidates WHERE kind = '{kind}')"
            among, mapped = (
                f"AND vector_key IN {cand}",
                f"(SELECT DISTINCT vector_key FROM {table} WHERE vector_key IN {cand})",
            )
        retired = self.con.execute(
            f"UPDATE vector_records SET live = false WHERE kind = ? AND live {among} AND vector_key NOT IN {mapped}",
            [kind],
        ).fetchone()
        revived = self.con.execute(
            f"UPDATE vector_records SET live = true WHERE kind = ? AND NOT live AND vector_key IN {mapped}", [kind]
        ).fetchone()
        missing = self.con.execute(
            f"SELECT vector_key FROM {mapped} m WHERE vector_key NOT IN "
            f"(SELECT vector_key FROM vector_records WHERE kind = ? {among})",
            [kind],
        ).fetchall()
        return int(retired[0] if retired else 0), int(revived[0] if revived else 0), [r[0] for r in missing]

    def add_records(self, kind: str, segment: str, keys: Iterable[str]) -> None:
        """Records just written to a new segment, all live."""
        with _Spool(self.path) as spool:
            rows = ({"kind": kind, "vector_key": k, "segment": segment, "live": True} for k in keys)
            if spool.write(rows, "records"):
                columns = {"kind": "VARCHAR", "vector_key": "VARCHAR", "segment": "VARCHAR", "live": "BOOLEAN"}
                self._insert(spool.paths["records"], "vector_records", columns)

    def segment_counts(self) -> dict[str, tuple[str, int, int]]:
        """segment -> (kind, records it holds, live ones)."""
        rows = self.query("SELECT segment, any_value(kind), count(*), count(*) FILTER (WHERE live) "
                          "FROM vector_records GROUP BY segment")  # fmt: skip
        return {r[0]: (r[1], int(r[2]), int(r[3])) for r in rows}

    def live_keys(self, segment: str) -> list[str]:
        return [r[0] for r in self.query("SELECT vector_key FROM vector_records WHERE segment = ? AND live "
                                         "ORDER BY vector_key", [segment])]  # fmt: skip

    def fold_segment(self, segment: str, into: str) -> None:
        """A segment's live records now live in `into`; its dead ones are gone with it."""
        self.con.execute("DELETE FROM vector_records WHERE segment = ? AND NOT live", [segment])
        self.con.execute("UPDATE vector_records SET segment = ? WHERE segment = ?", [into, segment])

    # -- BM25 term tables -------------------------------------------------------------------------------

    def lexical_sources(self, touched: bool) -> Iterator[tuple[str, str, str]]:
        """(kind, id, text to index) of the touched postings and chunks that still exist, or of all of them."""
        only = {"posting": "WHERE posting_id IN (SELECT posting_id FROM touched)",
                "article": "WHERE chunk_id IN (SELECT chunk_id FROM touched_chunks)"}  # fmt: skip
        for kind, sql in (
            ("posting", "SELECT posting_id, coalesce(title, '') || ' ' || coalesce(summary, '') FROM postings"),
            ("article", "SELECT chunk_id, coalesce(title, '') || ' ' || coalesce(text, '') FROM chunks"),
        ):
            cursor = self.con.execute(f"{sql} {only[kind] if touched else ''}")
            while rows := cursor.fetchmany(_PAGE_ROWS):
                for rid, text in rows:
                    yield kind, rid, text

    def write_lexical(self, documents: Iterable[tuple[str, str, dict[str, int], int]], touched: bool) -> int:
        """Put the documents' terms (kind, id, term -> count, length) in place of what the touched documents had
        (or of everything), keeping each term's document count; returns the documents written."""
        doc = "hash(kind || ':' || id)"
        rows = ({"kind": k, "id": i, "length": n, "terms": list(terms), "tfs": list(terms.values())}
                for k, i, terms, n in documents)  # fmt: skip
        with _Spool(self.path) as spool:
            written = spool.write(rows, "documents")  # first: the documents may be read from this connection
            if touched:
                self.con.execute(
                    """CREATE OR REPLACE TEMP TABLE lexical_gone AS SELECT doc FROM lexical_docs
                        WHERE (kind = 'posting' AND id IN (SELECT posting_id FROM touched))
                           OR (kind = 'article' AND id IN (SELECT chunk_id FROM touched_chunks))"""
                )
                self._count_terms("lexical_gone", -1)
                self.con.execute("DELETE FROM lexical_terms WHERE doc IN (SELECT doc FROM lexical_gone)")
                self.con.execute("DELETE FROM lexical_docs WHERE doc IN (SELECT doc FROM lexical_gone)")
            else:
                for table in ("lexical_docs", "lexical_terms", "lexical_df"):
                    self.con.execute(f"DELETE FROM {table}")
            spec = "{'kind': 'VARCHAR', 'id': 'VARCHAR', 'length': 'INTEGER', 'terms': 'VARCHAR[]', 'tfs': 'INTEGER[]'}"
            self.con.execute("CREATE OR REPLACE TEMP TABLE lexical_new (doc UBIGINT)")
            for path in spool.paths["documents"]:
                source = f"read_json(?, format='newline_delimited', columns={spec})"
                self.con.execute(f"INSERT INTO lexical_docs SELECT {doc}, kind, id, length FROM {source}", [str(path)])
                self.con.execute(f"INSERT INTO lexical_new SELECT {doc} FROM {source}", [str(path)])
                self.con.execute(f"INSERT INTO lexical_terms SELECT unnest(terms), {doc}, unnest(tfs), length, kind "
                                 f"FROM {source}", [str(path)])  # fmt: skip
        if touched:
            self._count_terms("lexical_new", 1)
        else:
            self.con.execute("INSERT INTO lexical_df SELECT term, count(*) FROM lexical_terms GROUP BY term")
            # In term order, a search reads only the row groups holding its terms (2x faster at 1M postings);
            # the few rows later ingests append do not undo that.
            self.con.execute("CREATE TABLE lexical_sorted AS SELECT * FROM lexical_terms ORDER BY term")
            self.con.execute("DROP TABLE lexical_terms")
            self.con.execute("ALTER TABLE lexical_sorted RENAME TO lexical_terms")
        return written

    def _count_terms(self, docs: str, sign: int) -> None:
        """Add (or take away) the documents in the temp table `docs` to (from) each of their terms' counts."""
        self.con.execute(f"""CREATE OR REPLACE TEMP TABLE lexical_delta AS SELECT term, count(*) AS n
                             FROM lexical_terms WHERE doc IN (SELECT doc FROM {docs}) GROUP BY term""")  # fmt: skip
        self.con.execute(
            f"UPDATE lexical_df SET df = df + {sign} * d.n FROM lexical_delta d WHERE lexical_df.term = d.term"
        )
        if sign > 0:
            self.con.execute("INSERT INTO lexical_df SELECT term, n FROM lexical_delta "
                             "WHERE term NOT IN (SELECT term FROM lexical_df)")  # fmt: skip
        else:
            self.con.execute("DELETE FROM lexical_df WHERE df <= 0")

    def rebuild_postings(self) -> bool:
        """Derive `postings` (one row per posting id) from `file_rows`: the touched postings only when the table
        exists (an ingest of a few files into a large store), else all of them. Returns whether only the
        touched ones were derived.

        Each posting takes its fields from its first row (by file and line) and the keywords of all its rows;
        near-duplicates share title, company and city under other ids (usually other dates). Written as
        small aggregates joined back to the rows, so that DuckDB holds per-posting keys, not whole rows, and
        a store of any size derives within its memory limit.
        """
        per_posting = ", ".join(f'f."{c}"' for c in _PER_POSTING)
        derive = f"""
            WITH firsts AS (
                SELECT posting_id, arg_min(rowid, (file_key, "row")) AS first_row,
                       list_sort(list_distinct(flatten(list(keywords)))) AS keywords, count(*) AS times_listed
                FROM file_rows {{only}} GROUP BY posting_id
            )
            SELECT k.posting_id, {per_posting}, k.keywords, k.times_listed
            FROM firsts k JOIN file_rows f ON f.rowid = k.first_row"""
        group = "row(lower(title), coalesce(company, ''), coalesce(city, ''))"
        own_group = "row(lower(postings.title), coalesce(postings.company, ''), coalesce(postings.city, ''))"
        if not self._has("postings"):
            self.con.execute(f"SET memory_limit = '{_fitted(self.query('SELECT count(*) FROM file_rows')[0][0])}'")
            # In steps through tables, each within the limit (one statement held the rows twice).
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE derived AS {derive.format(only='')}")
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE near AS SELECT {group} AS g, count(*) AS n FROM derived "
                             "GROUP BY ALL")  # fmt: skip
            self.con.execute(
                """CREATE TABLE postings AS SELECT r.*, near.n AS near_duplicates FROM derived r JOIN near
                   ON row(lower(r.title), coalesce(r.company, ''), coalesce(r.city, '')) = near.g"""
            )
            self.con.execute("DROP TABLE derived")
            self.con.execute("DROP TABLE near")
            # Postings are read by id for every search hit (an index: 4 ms instead of 30 at 100k postings).
            self.con.execute("CREATE INDEX postings_id ON postings (posting_id)")
            self.con.execute("DELETE FROM touched")
            self.con.execute("DELETE FROM touched_chunks")
            return False
        ids = "(SELECT DISTINCT posting_id FROM touched)"
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE near_groups AS SELECT DISTINCT {group} AS g FROM postings "
                         f"WHERE posting_id IN {ids}")  # fmt: skip
        self.con.execute(f"DELETE FROM postings WHERE posting_id IN {ids}")
        self.con.execute(f"INSERT INTO postings BY NAME SELECT *, 1 AS near_duplicates FROM "
                         f"({derive.format(only='WHERE posting_id IN ' + ids)})")  # fmt: skip
        self.con.execute(f"INSERT INTO near_groups SELECT DISTINCT {group} FROM postings WHERE posting_id IN {ids}")
        self.con.execute(
            f"""UPDATE postings SET near_duplicates = near.n
                FROM (SELECT {group} AS g, count(*) AS n FROM postings
                      WHERE {group} IN (SELECT g FROM near_groups) GROUP BY ALL) near
                WHERE {own_group} = near.g"""
        )
        return True

    def settle(self) -> None:
        """After the postings are derived: what follows reads them and changes the smaller tables, so DuckDB gives
        back its cache (a limit that still grows with the store: the vector and word tables are joined by key)."""
        self.con.execute(f"SET memory_limit = '{_fitted(self.query('SELECT count(*) FROM postings')[0][0], 64)}'")

    # -- reading ---------------------------------------------------------------------------------

    def posting_records(self, touched: bool = False) -> Iterator[dict[str, Any]]:
        """Every posting (or the touched ones) with the fields its vector is made from and the vector store keeps
        as metadata (in no particular order: a scan, so that any number of postings streams through a bounded
        memory)."""
        if touched:
            cursor = self.con.execute(
                """SELECT posting_id, summary, source, source_file, "row", city, role_family, salary_min,
                          salary_max, posted, title, skills FROM postings
                   WHERE posting_id IN (SELECT DISTINCT posting_id FROM touched)"""
            )
            names = [d[0] for d in cursor.description]
            for values in cursor.fetchall():
                yield dict(zip(names, values, strict=True))
            return
        # A page of rows per query: DuckDB materialises a query's whole result for Python, outside its memory
        # limit (one query over 190k postings held ~150 MB).
        top = self.con.execute("SELECT max(rowid) FROM postings").fetchone()
        last = -1 if top is None or top[0] is None else int(top[0])
        for start in range(0, last + 1, _PAGE_ROWS):
            cursor = self.con.execute(
                """SELECT posting_id, summary, source, source_file, "row", city, role_family, salary_min,
                          salary_max, posted, title, skills FROM postings WHERE rowid >= ? AND rowid < ?""",
                [start, start + _PAGE_ROWS],
            )
            names = [d[0] for d in cursor.description]
            for values in cursor.fetchall():
                yield dict(zip(names, values, strict=True))

    def chunk_records(self) -> Iterator[dict[str, Any]]:
        cursor = self.con.execute("SELECT * FROM chunks ORDER BY chunk_id")
        names = [d[0] for d in cursor.description]
        for values in cursor.fetchall():
            yield dict(zip(names, values, strict=True))

    def consistency(self) -> dict[str, Any]:
        """What `check` compares with the manifest and the vectors: counts, each segment's record ids as count +
        hash, and whether every posting and chunk maps to a live record (and every live record is mapped)."""
        q = self.query
        per_segment: dict[str, list[str]] = {}
        for segment, key in q("SELECT segment, vector_key FROM vector_records ORDER BY segment, vector_key"):
            per_segment.setdefault(segment, []).append(key)
        out: dict[str, Any] = {
            "postings": q("SELECT count(*) FROM postings")[0][0],
            "chunks": q("SELECT count(*) FROM chunks")[0][0],
            "unmapped": q(
                "SELECT count(*) FROM postings WHERE posting_id NOT IN (SELECT posting_id FROM posting_vectors)"
            )[0][0]
            + q("SELECT count(*) FROM chunks WHERE chunk_id NOT IN (SELECT chunk_id FROM chunk_vectors)")[0][0],
            "segments": {name: id_digest(keys) for name, keys in per_segment.items()},
            "lexical_docs": q("SELECT count(*) FROM lexical_docs")[0][0],
            "live": {
                kind: q("SELECT count(*) FROM vector_records WHERE kind = ? AND live", [kind])[0][0]
                for kind in _VECTOR_MAP
            },  # fmt: skip
        }
        for kind, (table, _) in _VECTOR_MAP.items():
            out[f"{kind}_without_record"] = q(
                f"SELECT count(DISTINCT vector_key) FROM {table} WHERE vector_key NOT IN "
                "(SELECT vector_key FROM vector_records WHERE kind = ? AND live)", [kind])[0][0]  # fmt: skip
            out[f"{kind}_records_unmapped"] = q(
                f"SELECT count(*) FROM vector_records WHERE kind = ? AND live AND vector_key NOT IN "
                f"(SELECT vector_key FROM {table})", [kind])[0][0]  # fmt: skip
        return out

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, params or []).fetchall()

    def stats(self) -> dict[str, Any]:
        """What the table holds, for `career-assistant stats`."""
        if not self._has("postings"):
            return {"postings": 0, "sources": [], "cities": [], "roles": [], "skills": [], "articles": []}
        q = self.query
        sources = q(
            """SELECT source, count(*), min(posted), max(posted),
                      count(*) FILTER (WHERE salary_min IS NOT NULL OR salary_max IS NOT NULL),
                      count(*) FILTER (WHERE len(skills) > 0), count(*) FILTER (WHERE near_duplicates > 1)
               FROM postings GROUP BY source ORDER BY count(*) DESC"""
        )
        return {
            "postings": q("SELECT count(*) FROM postings")[0][0],
            "rows": q("SELECT count(*) FROM file_rows")[0][0],
            "sources": [
                {
                    "source": s[0],
                    "postings": s[1],
                    "first": s[2],
                    "last": s[3],
                    "with_salary": s[4],
                    "with_skills": s[5],
                    "near_duplicates": s[6],
                }  # fmt: skip
                for s in sources
            ],
            "cities": q(
                "SELECT coalesce(city, '(unknown)'), count(*) FROM postings GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 12"
            ),
            "city_count": q("SELECT count(DISTINCT city) FROM postings")[0][0],
            "roles": q("SELECT role_family, count(*) FROM postings GROUP BY 1 ORDER BY 2 DESC, 1"),
            "skills": q(
                "SELECT s, count(*) FROM (SELECT unnest(skills) AS s FROM postings) GROUP BY 1 ORDER BY 2 DESC, 1 "
                "LIMIT 15"
            ),
            "articles": q("SELECT source_file, any_value(title), count(*) FROM chunks GROUP BY 1 ORDER BY 1"),
        }

    def _has(self, table: str) -> bool:
        return bool(self.query("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table])[0][0])


class _Spool:
    """Temporary JSONL files that rows are streamed to before DuckDB loads them, a part at a time (one
    statement per part keeps the load within DuckDB's memory limit, whatever the number of rows)."""

    PART_ROWS = 20_000

    def __init__(self, beside: Path) -> None:
        # Beside the table, on the store's own file system (its free space is what a load needs).
        self.folder = Path(tempfile.mkdtemp(prefix=".rows-", dir=beside.parent))
        self.paths: dict[str, list[Path]] = {}

    def write(self, rows: Iterable[dict[str, Any]], name: str) -> int:
        """Stream `rows` to part files named after `name`; returns how many rows were written."""
        parts = self.paths[name] = []
        n = 0
        out: Any = None
        try:
            for row in rows:
                if n % self.PART_ROWS == 0:
                    if out is not None:
                        out.close()
                    parts.append(self.folder / f"{name}-{len(parts):05d}.jsonl")
                    out = parts[-1].open("w", encoding="utf-8")
                out.write(json.dumps(row, ensure_ascii=False, default=str))
                out.write("\n")
                n += 1
        finally:
            if out is not None:
                out.close()
        return n

    def __enter__(self) -> _Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _fitted(rows: int, floor_mb: int = 128) -> str:
    """DuckDB's memory limit for a store of `rows` postings (see `_BYTES_PER_ROW`)."""
    return f"{max(floor_mb << 20, rows * _BYTES_PER_ROW) >> 20}MB"


def id_digest(ids: Iterable[str]) -> tuple[int, str]:
    """(how many, a hash of them in sorted order): two id sets compared without sending either whole."""
    import hashlib

    digest, n = hashlib.sha256(), 0
    for rid in sorted(ids):
        digest.update(rid.encode("utf-8") + b"\n")
        n += 1
    return n, digest.hexdigest()[:16]


def _posting_row(file_key: str, posting: Posting) -> dict[str, Any]:
    # A shallow copy: `asdict` deep-copies every field and cost 2-3 s over the bundled corpus.
    row = {name: getattr(posting, name) for name in _POSTING_FIELDS}
    row["file_key"] = file_key
    row["skills"] = list(posting.skills)
    row["keywords"] = list(posting.keywords)
    row["posted"] = posting.posted.isoformat() if posting.posted else None
    return row
