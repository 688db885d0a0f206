"""One ingest run: find files, parse what changed, stage a new store generation, embed, commit.

Data flows one way: load → validate → normalize → summarize → de-duplicate → embed → write.
Unchanged files (same bytes, same options, same parser) cost a hash and nothing else.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import hashlib
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from assistant.config import BUNDLED_CORPUS, VOCAB_DIR, Settings
from assistant.errors import DiskFullError, InputFileError, UserError
from assistant.market import PostingsTable
from assistant.schema import Chunk
from ingest.articles import chunk_article, read_article
from ingest.layouts import LAYOUT_DIR, load_mapping_file, parse_column_mapping, resolve_layout
from ingest.postings import ParsedPostings, parse_postings
from ingest.readers import ARTICLE_SUFFIXES, TABLE_SUFFIXES, Limits, read_table
from ingest.report import FileResult, IngestReport
from ingest.sync import return_free_memory, sync_lexical, sync_vectors

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
# Documentation and licence files that sit beside data in folders; named explicitly, they are read.
_FOLDER_SKIP = ("readme", "license", "licence", "notice", "copying", "attribution")


@dataclass
class IngestOptions:
    """How to read postings files that are not in a known layout, and what to do with the store."""

    columns: dict[str, str] = field(default_factory=dict)
    source: str | None = None
    scrape_date: str | None = None
    encoding: str | None = None  # of every text file named, instead of telling UTF-8 and GB18030 apart
    pay_period: str | None = None  # what pay written as plain numbers is per: "month" (None), "year", "day"
    follow_symlinks: bool = False  # read files through symbolic links (a person's own files only)
    prune: bool = False
    rebuild: bool = False

    #: The options that say how a file is read, recorded in the manifest so `check --repair` reads it again so.
    READ_WITH = ("columns", "source", "scrape_date", "encoding", "pay_period")

    def read_with(self, bundled: bool = False) -> dict[str, Any]:
        """How a file was read, as the manifest keeps it (only what was set; no encoding for bundled files)."""
        given = {name: getattr(self, name) for name in self.READ_WITH}
        if bundled:
            given["encoding"] = None
        return {name: value for name, value in given.items() if value}

    @classmethod
    def from_read_with(cls, how: dict[str, Any]) -> IngestOptions:
        """The options a manifest entry's `read_with` records."""
        return cls(**{name: how[name] for name in cls.READ_WITH if name in how})

    @classmethod
    def given(
        cls,
        columns: Mapping[str, str] | str | None = None,
        columns_file: Path | None = None,
        **options: Any,
    ) -> IngestOptions:
        """Options as a person gives them (a `field=header,...` text or a mapping, a JSON mapping file, a date
        as text), each checked.

        Raises:
            UserError: an unknown field, a scrape date that is not YYYY-MM-DD, an encoding Python does not know,
                or a pay period other than month, year or day.
        """
        mapping: dict[str, str] = {}
        if columns_file is not None:
            mapping.update(load_mapping_file(Path(columns_file)))
        if isinstance(columns, str):
            mapping.update(parse_column_mapping(columns))
        elif columns:
            mapping.update(parse_column_mapping(",".join(f"{k}={v}" for k, v in columns.items())))
        scrape_date = options.get("scrape_date")
        if scrape_date:
            try:
                date.fromisoformat(str(scrape_date))
            except ValueError:
                raise UserError(f"the scrape date must be YYYY-MM-DD, got {scrape_date!r}") from None
        encoding = options.get("encoding")
        if encoding:
            try:
                codecs.lookup(encoding)
            except LookupError:
                raise UserError(f"{encoding!r} is not an encoding (e.g. utf-8, gb18030, big5, shift_jis)") from None
        period = options.get("pay_period")
        if period not in (None, "month", "year", "day"):
            raise UserError(f"the pay period must be month, year or day, got {period!r}")
        unknown = sorted(set(options) - {f.name for f in fields(cls)})
        if unknown:
            raise UserError(f"unknown ingest option {unknown[0]!r}")
        return cls(columns=mapping, **options)

    def signature(self) -> str:
        """Changes to these options must re-read files even when their bytes did not change."""
        raw = repr(
            (
                sorted(self.columns.items()),
                self.source,
                self.scrape_date,
                self.encoding,
                self.pay_period,
                parser_fingerprint(),
            )
        )
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


_FINGERPRINT: str | None = None


def parser_fingerprint() -> str:
    """A hash of the parsing code and vocabularies: a new normalizer re-reads every file once."""
    global _FINGERPRINT
    if _FINGERPRINT is None:
        digest = hashlib.sha256()
        here = Path(__file__).resolve().parent
        parsers = ("readers", "layouts", "postings", "summarize", "articles", "salary", "dates")
        parts = [here / f"{name}.py" for name in parsers] + [VOCAB_DIR.parent / "vocab.py"]
        parts += sorted(VOCAB_DIR.glob("*.json")) + sorted(LAYOUT_DIR.glob("*.json"))
        for path in parts:
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
        _FINGERPRINT = digest.hexdigest()[:16]
    return _FINGERPRINT


@dataclass
class InputFile:
    path: Path
    key: str  # stable identity in the manifest
    result: FileResult
    data: bytes = b""
    sha256: str = ""
    size: int = 0


def file_key(path: Path) -> tuple[str, str]:
    """(manifest key, display name): bundled files get a location-independent key."""
    # Absolute but not resolved: a symlink keeps its own name (and a dangling one can be reported).
    resolved = Path(os.path.abspath(path))
    try:
        rel = resolved.relative_to(Path(os.path.abspath(BUNDLED_CORPUS)))
        key = f"bundled:{rel.as_posix()}"
        return key, key
    except ValueError:
        pass
    try:
        display = resolved.relative_to(Path.cwd()).as_posix()
    except ValueError:
        display = str(resolved)
    return str(resolved), display


_LINK = "a symbolic link, not followed (pass --follow-symlinks for links to your own files)"


def discover(paths: Sequence[Path], follow_symlinks: bool = False) -> list[InputFile]:
    """Expand folders (sorted, recursive); unusable paths become failed results, not exceptions.

    Symbolic links are not followed unless `follow_symlinks`: a link named `jobs.csv` can point anywhere.
    """
    found: dict[str, InputFile] = {}

    def add(path: Path, explicit: bool) -> None:
        key, display = file_key(path)
        if key in found:
            return
        if path.is_symlink() and not follow_symlinks:
            found[key] = InputFile(path, key, FileResult(display, "", "failed", error=_LINK))
            return
        suffix = path.suffix.lower()
        kind = "postings" if suffix in TABLE_SUFFIXES else "articles" if suffix in ARTICLE_SUFFIXES else ""
        result = FileResult(display=display, kind=kind)
        if not kind:
            result.status = "failed" if explicit else "ignored"
            result.error = (
                f"unknown file type {suffix or '(no extension)'!r}; postings: {' '.join(TABLE_SUFFIXES)}; "
                f"articles: {' '.join(ARTICLE_SUFFIXES)}"
            )
        found[key] = InputFile(path=path, key=key, result=result)

    for given in paths:
        if given.is_dir() and (follow_symlinks or not given.is_symlink()):
            for dirpath, dirnames, filenames in os.walk(given, followlinks=follow_symlinks):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    if name.startswith(".") or name.lower().split(".")[0] in _FOLDER_SKIP:
                        continue
                    add(Path(dirpath) / name, explicit=False)
        elif given.exists() or given.is_symlink():
            add(given, explicit=True)
        else:
            key, display = file_key(given)
            found[key] = InputFile(given, key, FileResult(display, "", "failed", error="no such file or folder"))
    return list(found.values())


def _read_bytes(item: InputFile, max_bytes: int, follow_symlinks: bool = False, expect: str | None = None) -> None:
    """Read a file's bytes into `item` (and their hash); with `expect`, a file whose hash changed is refused."""
    # Non-blocking, so opening a named pipe does not wait for a writer (it is refused as not a regular file).
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow_symlinks else getattr(os, "O_NOFOLLOW", 0))
    try:
        # Opened first, then checked: a file swapped for a link after it was listed is still refused.
        fd = os.open(item.path, flags)
        with open(fd, "rb") as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise InputFileError(item.result.display, "not a regular file (a device, pipe or socket)")
            size = info.st_size
            if size > max_bytes:
                limit = f"{size / 1e6:.0f} MB is over the {max_bytes / 1e6:.0f} MB limit"
                raise InputFileError(item.result.display, limit)
            item.data = fh.read(max_bytes + 1)
            if len(item.data) > max_bytes:  # it grew while being read
                raise InputFileError(item.result.display, f"over the {max_bytes / 1e6:.0f} MB limit")
    except FileNotFoundError:
        raise InputFileError(item.result.display, "no such file (a broken link, or it was deleted)") from None
    except PermissionError:
        raise InputFileError(item.result.display, "permission denied (cannot read the file)") from None
    except IsADirectoryError:
        raise InputFileError(item.result.display, "is a folder") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputFileError(item.result.display, _LINK) from None
        raise InputFileError(item.result.display, f"cannot read: {exc.strerror or exc}") from None
    sha256 = hashlib.sha256(item.data).hexdigest()
    if expect is not None and sha256 != expect:
        raise InputFileError(item.result.display, "file changed while it was being ingested; run ingest again")
    item.sha256, item.size = sha256, len(item.data)


def _encoding(item: InputFile, options: IngestOptions) -> str | None:
    """The encoding the person named applies to their files, not to the bundled corpus (UTF-8)."""
    return options.read_with(bundled=item.key.startswith("bundled:")).get("encoding")


def _parse(item: InputFile, options: IngestOptions, limits: Limits | None = None) -> ParsedPostings | list[Chunk]:
    """Check a file through once and return what it holds: an article's chunks, or a postings file's postings
    (made while they are iterated, so a large file is never held as rows)."""
    result = item.result
    if result.kind == "articles":
        article = read_article(item.path, item.data, result.display, _encoding(item, options))
        chunks = chunk_article(article)
        result.rows_in = result.records = len(chunks)
        result.layout = "article"
        return chunks
    table = read_table(item.path, item.data, result.display, _encoding(item, options), limits)
    layout = resolve_layout(table.headers, result.display, options.columns, options.source)
    if options.scrape_date:
        layout = replace(layout, scrape_date=options.scrape_date)
    if options.pay_period:
        layout = replace(layout, pay_period=options.pay_period)
    if not layout.source:
        # A file in an unknown layout with no --source is named after its folder (exports/myboard/jobs.csv).
        layout = replace(layout, source=item.path.parent.name or item.path.stem)
    result.layout, result.encoding = layout.name, table.encoding
    result.rows_in = len(table.rows) + sum(table.skipped.values())
    return parse_postings(table, layout, result.display, item.path.stem)


def _load(table: PostingsTable, item: InputFile, content: ParsedPostings | list[Chunk]) -> None:
    """Put a parsed file's rows in the table in place of its old ones (left as they were if it fails)."""
    result = item.result
    if isinstance(content, list):
        table.replace_file(item.key, chunks=content)
        return
    if not table.replace_file(item.key, postings=content):
        raise InputFileError(result.display, "no usable rows (every row was skipped)")
    result.records = content.count
    result.skipped, result.unknown = content.skipped, content.unknown


def ingest(
    paths: Sequence[Path],
    settings: Settings,
    options: IngestOptions | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Bring the store at `settings.store` in line with the given files.

    Returns:
        The run's report; `report.ok` is False if any file failed (those files are left as they were).

    A store that holds only the bundled corpus and was built with another embedding model (the default
    changed) is rebuilt when the bundled corpus is among `paths`: the quick start stays one command.

    Raises:
        StoreLockedError: another process is writing the store.
        StoreMismatchError: the store was built with another embedding model (and holds files of its own).
        DiskFullError: the disk filled up (the store is as it was).
    """
    options = options or IngestOptions()
    say = progress or (lambda message: log.info("%s", message))
    started = time.perf_counter()
    report = IngestReport(store=str(settings.store))
    items = discover(paths, options.follow_symlinks)
    report.files = [item.result for item in items]
    try:
        _run(items, settings, options, report, say)
    except Exception as exc:
        if _disk_full(exc):
            raise DiskFullError(str(settings.store)) from exc
        raise
    report.seconds = time.perf_counter() - started
    return report


def _disk_full(exc: BaseException) -> bool:
    """Whether an error (or one it was raised from) is the disk filling up: the OS says so by number, DuckDB and
    Chroma in their messages."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "no space left on device" in str(exc).lower() or "database or disk is full" in str(exc).lower():
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


def _run(
    items: list[InputFile],
    settings: Settings,
    options: IngestOptions,
    report: IngestReport,
    say: Progress,
) -> None:
    """The run itself, inside the store's writer: a failure anywhere leaves the store as it was."""
    from assistant.embeddings import model_identity
    from assistant.generations import StoreWriter, vector_mode

    signature = options.signature()
    identity = model_identity(settings)
    bundled_requested = any(item.key.startswith("bundled:") for item in items)

    def only_bundled(manifest: dict[str, Any]) -> bool:
        return bundled_requested and all(key.startswith("bundled:") for key in manifest.get("files", {}))

    if settings.store.exists() and not settings.store.is_dir():
        raise UserError(f"store path {settings.store} exists and is not a folder. Hint: pass --store DIR")
    settings.store.mkdir(parents=True, exist_ok=True)
    warm = _WarmUp(settings)
    with (
        contextlib.closing(warm),
        StoreWriter(
            settings.store,
            identity.model_id,
            rebuild=options.rebuild,
            model_version=identity.version,
            rebuild_on_model_change=only_bundled,
            vector_mode=vector_mode(settings.chroma_url),
        ) as writer,
    ):
        if writer.replaced_model:
            say(f"the store was built with {writer.replaced_model}; rebuilding it with {identity.model_id}")
            report.rebuilt_for_model = writer.replaced_model
        old_files: dict[str, Any] = dict((writer.base_manifest or {}).get("files", {})) if not writer.rebuild else {}
        todo: list[InputFile] = []
        for item in items:
            if item.result.status in ("failed", "ignored"):
                continue
            try:
                _read_bytes(item, int(settings.max_file_mb * 1e6), options.follow_symlinks)
            except InputFileError as exc:
                item.result.status, item.result.error = "failed", exc.reason
                continue
            item.data = b""  # read again when parsed: one file's bytes at a time
            before = old_files.get(item.key)
            if before and before["sha256"] == item.sha256 and before.get("options") == signature:
                item.result.status = "unchanged"
                item.result.records = before.get("records", 0)
                continue
            item.result.status = "changed" if before else "added"
            todo.append(item)
        present = {item.key for item in items}
        gone = [key for key in old_files if options.prune and key not in present and not _exists(key)]
        if not todo and not gone and writer.base is not None:
            say("nothing changed")
            _fill_totals(report, writer.base_manifest or {})
            return

        say(f"reading {len(todo)} new or changed file(s)")
        # Chroma's client, then (when the live table is copied) the model, are made ready in a thread while the
        # table is copied and the files read: the copy is the kernel's work and the table's DuckDB's, they are
        # Python's. Not for a first build: the model loading beside a large parse made both Python-bound (5.0 s
        # against 2.0 + 1.6 s one after the other).
        warm.start(model=writer.base is not None and not writer.rebuild)
        limits = Limits.of(settings)
        staging = writer.stage()
        space = warm.space()
        writer.attach(space)
        warm_words()  # after Chroma's client: both are Python's work, and the words are needed last
        files = {k: v for k, v in old_files.items() if k in present or not options.prune or _exists(k)}
        loaded: list[InputFile] = []
        with PostingsTable(staging / "postings.duckdb") as table:
            for key in gone:
                table.delete_file(key)
                files.pop(key, None)
                report.pruned.append(old_files[key].get("display", key))
            # Each file is read a row at a time straight into the table; one that fails keeps its old rows.
            content: ParsedPostings | list[Chunk] | None = None
            for item in todo:
                try:
                    _read_bytes(item, int(settings.max_file_mb * 1e6), options.follow_symlinks, expect=item.sha256)
                    content = _parse(item, options, limits)
                    _load(table, item, content)
                except InputFileError as exc:
                    item.result.status, item.result.error = "failed", exc.reason
                except Exception as exc:  # a parser bug must not cost the other files
                    if _disk_full(exc):
                        raise  # not this file's fault: the whole run stops and the store stays as it was
                    log.exception("unexpected error reading %s", item.result.display)
                    item.result.status, item.result.error = "failed", f"unexpected {type(exc).__name__}: {exc}"
                else:
                    files[item.key] = _manifest_entry(item, signature, content, options)
                    loaded.append(item)
                finally:
                    item.data, content = b"", None  # the file's rows hold its bytes: let both go
            report.rows_in = sum(i.result.rows_in for i in loaded if i.result.kind == "postings")
            report.chunks_in = sum(i.result.records for i in loaded if i.result.kind == "articles")
            say("writing the postings table")
            touched = table.rebuild_postings()
            table.settle()
            return_free_memory()
            segments = sync_vectors(table, space, settings, report, say, writer.number, writer.base_segments, touched)
            sync_lexical(table, touched, say)
            changed_meanwhile = [item for item in loaded if _changed_on_disk(item)]
            for item in changed_meanwhile:
                item.result.status = "failed"
                item.result.error = "file changed while it was being ingested; run ingest again"
                _restore_file(table, writer.base, item.key)
                if item.key in old_files:
                    files[item.key] = old_files[item.key]
                else:
                    files.pop(item.key, None)
            if changed_meanwhile:
                touched = table.rebuild_postings()
                segments = sync_vectors(table, space, settings, report, say, writer.number, segments, touched)
                sync_lexical(table, touched, say)
            report.posting_vectors = sum(s.live for s in segments if s.kind == "posting")
            report.chunks = sum(s.live for s in segments if s.kind == "article")
            report.postings = table.query("SELECT count(*) FROM postings")[0][0]
            report.near_duplicates = table.query("SELECT count(*) FROM postings WHERE near_duplicates > 1")[0][0]
        manifest = {
            "files": files,
            "segments": [s.to_dict() for s in segments],
            "counts": {
                "postings": report.postings,
                "posting_vectors": report.posting_vectors,
                "chunks": report.chunks,
                "near_duplicates": report.near_duplicates,
            },
            "updated": datetime.now(UTC).isoformat(timespec="seconds"),
            "dimension": report.dimension
            or identity.dimension
            or (None if writer.rebuild else (writer.base_manifest or {}).get("dimension")),
        }
        say("committing")
        writer.commit(manifest)
        report.committed = True


class _WarmUp:
    """The vector space opened (importing Chroma's client, reaching the server), then the model loaded, in a
    thread; `space()` waits for the first only and raises what opening it raised."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.thread: threading.Thread | None = None
        self.opened: Any = None
        self.error: BaseException | None = None
        self.ready = threading.Event()

    def start(self, model: bool) -> None:
        self.thread = threading.Thread(target=self._run, args=(model,), name="warm-up", daemon=True)
        self.thread.start()

    def _run(self, model: bool) -> None:
        try:
            self.opened = vector_space(self.settings, create=True)
        except BaseException as exc:  # raised again in the run's own thread by `space()`
            self.error = exc
        finally:
            self.ready.set()
        if model and self.error is None:
            from assistant.embeddings import get_embedder

            # Kept by the embeddings module for the run's first text; a model that fails to load fails there.
            with contextlib.suppress(Exception):
                get_embedder(self.settings)

    def space(self) -> Any:
        if self.thread is None:
            self.start(model=False)
        self.ready.wait()
        if self.error is not None:
            raise self.error
        return self.opened

    def close(self) -> None:
        if self.thread is not None:
            self.thread.join()
        if self.opened is not None:
            self.opened.close()


def warm_words() -> None:
    """Load the word splitter's dictionary in the background while files are read and the store is copied (1-2 s
    of a small ingest otherwise spent after them, when the words are indexed)."""
    from assistant.words import load_dictionary

    threading.Thread(target=load_dictionary, name="warm-words", daemon=True).start()


def model_args(settings: Settings) -> tuple[str, str | None, str]:
    """(backend, model folder, model name): how the vector store names the model to Chroma."""
    folder = str(settings.embedding_model) if settings.embedding_model else None
    return settings.embedding_backend, folder, settings.embedding_model_name


def vector_space(settings: Settings, create: bool = False) -> Any:
    """Where the store's vectors live: embedded, or on the Chroma server `settings.chroma_url` names."""
    from assistant.store import VectorSpace

    return VectorSpace(settings.store, *model_args(settings), url=settings.chroma_url, token=settings.chroma_token,
                       create=create)  # fmt: skip


def path_of(key: str) -> Path:
    """The file a manifest key names."""
    if key.startswith("bundled:"):
        return BUNDLED_CORPUS / key.removeprefix("bundled:")
    return Path(key)


def _exists(key: str) -> bool:
    return path_of(key).exists()


def _changed_on_disk(item: InputFile) -> bool:
    try:
        return hashlib.sha256(item.path.read_bytes()).hexdigest() != item.sha256
    except OSError:
        return True


def _restore_file(table: PostingsTable, base: Path | None, key: str) -> None:
    """Put back what a file contributed in the live generation (or nothing, if it is new)."""
    table.delete_file(key)
    if base is None:
        return
    table.con.execute(f"ATTACH '{base / 'postings.duckdb'}' AS base (READ_ONLY)")
    try:
        table.con.execute("INSERT INTO file_rows SELECT * FROM base.file_rows WHERE file_key = ?", [key])
        table.con.execute("INSERT INTO chunks SELECT * FROM base.chunks WHERE file_key = ?", [key])
        table.touch_file(key)
    finally:
        table.con.execute("DETACH base")


def _manifest_entry(
    item: InputFile, signature: str, content: ParsedPostings | list[Chunk], options: IngestOptions
) -> dict[str, Any]:
    result = item.result
    entry: dict[str, Any] = {
        "display": result.display,
        "sha256": item.sha256,
        "size": item.size,
        "kind": result.kind,
        "layout": result.layout,
        "encoding": result.encoding,
        "rows_in": result.rows_in,
        "records": result.records,
        "skipped": dict(result.skipped),
        "unknown": dict(result.unknown),
        "options": signature,
        # How it was read, so that `check --repair` can read it the same way again.
        "read_with": options.read_with(bundled=item.key.startswith("bundled:")),
    }
    if isinstance(content, ParsedPostings):
        entry["source"] = content.source
        entry["scrape_date"] = content.scrape_date.isoformat() if content.scrape_date else None
    return entry


def _fill_totals(report: IngestReport, manifest: dict[str, Any]) -> None:
    counts = manifest.get("counts", {})
    report.postings = counts.get("postings", 0)
    report.posting_vectors = counts.get("posting_vectors", 0)
    report.chunks = counts.get("chunks", 0)
    report.near_duplicates = counts.get("near_duplicates", 0)
