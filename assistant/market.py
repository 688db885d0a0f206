"""The postings table for exact figures, in DuckDB. The only module that imports duckdb.

`file_rows` keeps every parsed row of every file (so a changed file replaces just its rows);
`postings` is derived from it with one row per posting: the same board job found under several
search keywords, or an exactly repeated row, is one posting that keeps all its keywords.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator, Sequence
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
        if not read_only:
            self._create()

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

    # -- writing ---------------------------------------------------------------------------------

    def replace_file(self, file_key: str, postings: Sequence[Posting] = (), chunks: Sequence[Chunk] = ()) -> None:
        """Drop what a file contributed before and load what it contributes now."""
        self.delete_file(file_key)
        if postings:
            self._bulk_insert("file_rows", _ROW_COLUMNS, (_posting_row(file_key, p) for p in postings))
        if chunks:
            self._bulk_insert("chunks", _CHUNK_COLUMNS, ({"file_key": file_key, **vars(c)} for c in chunks))

    def delete_file(self, file_key: str) -> None:
        self.con.execute("DELETE FROM file_rows WHERE file_key = ?", [file_key])
        self.con.execute("DELETE FROM chunks WHERE file_key = ?", [file_key])

    def _bulk_insert(self, table: str, columns: dict[str, str], rows: Iterable[dict[str, Any]]) -> None:
        # Row-by-row executemany costs ~0.7 ms a row in DuckDB; a JSONL scan loads 16k rows in ~40 ms.
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", encoding="utf-8", delete=False) as tmp:
            for row in rows:
                tmp.write(json.dumps(row, ensure_ascii=False, default=str))
                tmp.write("\n")
        try:
            spec = ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items())
            names = ", ".join(f'"{name}"' for name in columns)
            self.con.execute(
                f"INSERT INTO {table} ({names}) SELECT {names} FROM read_json(?, format='newline_delimited', "
                f"columns={{{spec}}})",
                [tmp.name],
            )
        finally:
            Path(tmp.name).unlink(missing_ok=True)

    def set_vector_keys(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Record which vector record each posting shares (posting id, vector key); replaces the old map."""
        self.con.execute("CREATE OR REPLACE TABLE posting_vectors (posting_id VARCHAR, vector_key VARCHAR)")
        self._bulk_insert(
            "posting_vectors",
            {"posting_id": "VARCHAR", "vector_key": "VARCHAR"},
            ({"posting_id": p, "vector_key": k} for p, k in pairs),
        )

    def rebuild_postings(self) -> None:
        """Derive `postings` (one row per posting id) from `file_rows`."""
        first = ", ".join(f'arg_min("{c}", (file_key, "row")) AS "{c}"' for c in _PER_POSTING)
        self.con.execute(
            f"""
            CREATE OR REPLACE TABLE postings AS
            SELECT posting_id, {first},
                   list_sort(list_distinct(flatten(list(keywords)))) AS keywords,
                   count(*) AS times_listed
            FROM file_rows GROUP BY posting_id
            """
        )
        # Near-duplicates: same title, company and city under another id (usually another date).
        self.con.execute(
            """
            CREATE OR REPLACE TABLE postings AS
            SELECT p.*, count(*) OVER (PARTITION BY lower(title), coalesce(company, ''), coalesce(city, ''))
                   AS near_duplicates
            FROM postings p
            """
        )

    # -- reading ---------------------------------------------------------------------------------

    def posting_records(self) -> Iterator[dict[str, Any]]:
        """Every posting with the fields its vector is made from and the vector store keeps as metadata."""
        cursor = self.con.execute(
            """SELECT posting_id, summary, source, source_file, "row", city, role_family, salary_min,
                      salary_max, posted, title, skills FROM postings ORDER BY posting_id"""
        )
        names = [d[0] for d in cursor.description]
        while batch := cursor.fetchmany(5000):
            for values in batch:
                yield dict(zip(names, values, strict=True))

    def chunk_records(self) -> Iterator[dict[str, Any]]:
        cursor = self.con.execute("SELECT * FROM chunks ORDER BY chunk_id")
        names = [d[0] for d in cursor.description]
        for values in cursor.fetchall():
            yield dict(zip(names, values, strict=True))

    def consistency(self) -> dict[str, Any]:
        """What `check` compares with the manifest and the vectors: counts, and the id sets as count + hash."""
        q = self.query
        keys = [r[0] for r in q("SELECT DISTINCT vector_key FROM posting_vectors ORDER BY 1")]
        chunk_ids = [r[0] for r in q("SELECT chunk_id FROM chunks ORDER BY 1")]
        return {
            "postings": q("SELECT count(*) FROM postings")[0][0],
            "chunks": len(chunk_ids),
            "unmapped": q(
                "SELECT count(*) FROM postings WHERE posting_id NOT IN (SELECT posting_id FROM posting_vectors)"
            )[0][0],
            "posting_vectors": id_digest(keys),
            "chunk_vectors": id_digest(chunk_ids),
        }

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
