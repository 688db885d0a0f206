"""The store's generations: the live pointer, the manifest, the writer's lock and its staging copy, and the
vector segments a generation lists (their names and counts; the vectors themselves are in `assistant.store`,
the only module importing Chroma). Importing this module costs nothing: a writer copies the live generation
while Chroma's client and the model load beside it.

Layout of a store folder::

    CURRENT          name of the live generation (replaced atomically)
    STORE_ID         the store's id (names its collections on a Chroma server)
    gen-000007/      manifest.json · postings.duckdb
    vectors/         the segments, one Chroma folder each (embedded mode)
    .lock            held (flock) by the one writer, with its PID
    .staging-*/      a run in progress; never read; left-overs of killed runs are removed

A writer copies the live generation's table into a staging folder, changes the copy, and only then points
CURRENT at it. A run that fails or is killed at any moment leaves CURRENT, and so the store, as it was.
Chroma gives no protection against two writers (its index silently degrades), hence the lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.errors import (
    RuntimeFailure,
    StoreLockedError,
    StoreMismatchError,
    StoreMissingError,
    UserError,
)

if TYPE_CHECKING:
    from assistant.store import VectorSpace

log = logging.getLogger(__name__)


#: 2: one posting vector per (board, embedded text), mapped in `posting_vectors`; 3: vectors in segments shared
#: by generations (`vector_records`), chunks mapped in `chunk_vectors`; 4, 5: BM25 term tables (`lexical_*`)
SCHEMA_VERSION = 5
_GEN_PREFIX = "gen-"
_STAGING_PREFIX = ".staging-"


# -- paths, generations, lock -----------------------------------------------------------------------


def current_generation(root: Path) -> Path | None:
    """The live generation folder, or None when the store has never been built."""
    pointer = root / "CURRENT"
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    gen = root / name
    if not name.startswith(_GEN_PREFIX) or not (gen / "manifest.json").is_file():
        raise RuntimeFailure(f"store {root} is damaged: CURRENT names {name!r}, which is not a complete generation")
    return gen


def read_manifest(gen: Path) -> dict[str, Any]:
    try:
        return json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RuntimeFailure(f"store manifest {gen / 'manifest.json'} cannot be read: {exc}") from exc


def check_compatible(manifest: dict[str, Any], model_id: str, root: Path, model_version: str | None = None) -> None:
    """Refuse a store built with another embedding model (or version of it) or schema, naming both and the fix.

    A manifest from before versions were recorded is checked on the model id alone.
    """
    built = manifest.get("embedding_model")
    built_version = manifest.get("embedding_model_version")
    if built != model_id or (model_version and built_version and built_version != model_version):
        built_text = f"{built!r}" + (f" ({built_version})" if built_version else "")
        wanted_text = f"{model_id!r}" + (f" ({model_version})" if model_version else "")
        raise StoreMismatchError(
            f"store {root} was built with embedding model {built_text}, but {wanted_text} is configured. "
            f"Hint: rebuild the store with `career-assistant ingest --rebuild ...` (the same files again), "
            f"or configure the store's model: {_settings_hint(str(built))}."
        )
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise StoreMismatchError(
            f"store {root} has schema version {manifest.get('schema_version')}, this version reads "
            f"{SCHEMA_VERSION}. Hint: rebuild it with `career-assistant ingest --rebuild ...`."
        )


def _settings_hint(built: str) -> str:
    """The settings that select the model a store was built with, as far as its id tells."""
    from assistant.config import ENV_PREFIX

    name, _, backend = built.partition("@")
    if backend == "numpy":
        return f"{ENV_PREFIX}EMBEDDING_MODEL_NAME={name}"
    if name == "all-MiniLM-L6-v2":
        return f"{ENV_PREFIX}EMBEDDING_MODEL_NAME={name} with {ENV_PREFIX}EMBEDDING_BACKEND={backend}"
    return f"{ENV_PREFIX}EMBEDDING_MODEL=<the folder of {name}> with {ENV_PREFIX}EMBEDDING_BACKEND={backend}"


class WriterLock:
    """An exclusive, non-blocking flock on `<store>/.lock`; the kernel drops it if the process dies."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / ".lock"
        self.fd: int | None = None

    def __enter__(self) -> WriterLock:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            raise StoreLockedError(str(self.root), int(holder) if holder.isdigit() else None) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode("ascii"))
        os.fsync(fd)
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def _fsync_tree(folder: Path) -> None:
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class StoreWriter:
    """Stage a new generation from the live one; `commit()` makes it live atomically.

    Use as a context manager: leaving it without `commit()` (an error, Ctrl-C) deletes the staging copy.

    Args:
        root: The store folder.
        model_id: The configured embedding model, recorded in the manifest and checked against the store's.
        rebuild: Start from an empty generation instead of the live one.
        model_version: The model's version (a distribution and its version), recorded and checked likewise.
        rebuild_on_model_change: Called with the live manifest when the store was built with another model:
            True turns the run into a rebuild (the bundled corpus, which ingest can make again by itself)
            instead of refusing the store.
        space: Where the vectors live; or give `vector_mode` ("embedded" or "server") and `attach` the space
            later (an ingest opens it, importing Chroma's client, while the live table is copied).
    """

    def __init__(
        self,
        root: Path,
        model_id: str,
        rebuild: bool = False,
        model_version: str | None = None,
        rebuild_on_model_change: Callable[[dict[str, Any]], bool] | None = None,
        space: VectorSpace | None = None,
        vector_mode: str | None = None,
    ) -> None:
        self.root = root
        self.space = space
        self.vector_mode = space.mode if space is not None else vector_mode
        self.model_id = model_id
        self.model_version = model_version
        self.rebuild = rebuild
        self.rebuild_on_model_change = rebuild_on_model_change
        #: The model id of the live store when this run rebuilds it for a new model, else None.
        self.replaced_model: str | None = None
        self.lock = WriterLock(root)
        self.staging: Path | None = None
        self.base: Path | None = None
        self.base_manifest: dict[str, Any] | None = None
        #: The number the staged generation will have (the writer holds the lock, so no other run takes it).
        self.number = 0

    def __enter__(self) -> StoreWriter:
        if self.root.exists() and not self.root.is_dir():
            raise UserError(f"store path {self.root} exists and is not a folder. Hint: pass --store DIR")
        self.lock.__enter__()
        try:
            self._remove_leftovers()
            self.base = current_generation(self.root)
            if self.base is not None:
                self.base_manifest = read_manifest(self.base)
                if not self.rebuild:
                    try:
                        check_compatible(self.base_manifest, self.model_id, self.root, self.model_version)
                    except StoreMismatchError:
                        if self.rebuild_on_model_change is None or not self.rebuild_on_model_change(self.base_manifest):
                            raise
                        self.rebuild = True
                        self.replaced_model = _what_built(self.base_manifest, self.model_id, self.model_version)
                if not self.rebuild and self.vector_mode is not None:
                    check_vectors_at(self.base_manifest, self.vector_mode, self.root)
            self.number = 1 + max((_gen_number(p) for p in self.root.glob(_GEN_PREFIX + "*")), default=0)
            self.drop_unlisted_segments()
        except BaseException:
            self.lock.__exit__()
            raise
        return self

    def stage(self) -> Path:
        """Create the staging copy of the live generation (or an empty one) and return its path."""
        if self.staging is None:
            staging = self.root / f"{_STAGING_PREFIX}{os.getpid()}-{time.time_ns()}"
            staging.mkdir()
            self.staging = staging  # from here on, a failure (a full disk while copying) removes it
            if self.base is not None and not self.rebuild:
                # Only the postings table is copied: the vectors live in segments that generations share
                # (a run adds a segment of its own and never writes one a generation lists).
                shutil.copy2(self.base / "postings.duckdb", staging / "postings.duckdb")
        return self.staging

    @property
    def base_segments(self) -> list[Segment]:
        """The segments the live generation lists (none when this run rebuilds)."""
        return [] if self.rebuild or not self.base_manifest else manifest_segments(self.base_manifest)

    def attach(self, space: VectorSpace) -> None:
        """The vectors' place, opened after the writer started: checked against the store, and cleared of the
        segments no generation lists, before anything is written."""
        if self.base_manifest is not None and not self.rebuild:
            check_vectors_at(self.base_manifest, space.mode, self.root)
        self.space = space
        self.drop_unlisted_segments()

    def drop_unlisted_segments(self) -> None:
        """Remove the vector segments no generation on disk lists: a killed run's, and folded ones."""
        if self.space is None:
            return
        listed: set[str] = set()
        for gen in self.root.glob(_GEN_PREFIX + "*"):
            with contextlib.suppress(RuntimeFailure):
                listed |= {s.name for s in manifest_segments(read_manifest(gen))}
        for name in sorted(self.space.names() - listed):
            log.info("removing vector segment %s, which no generation lists", name)
            self.space.drop(name)

    def commit(self, manifest: dict[str, Any]) -> Path:
        """Write the manifest, make the staged generation live, and drop generations nobody needs."""
        staging = self.stage()
        manifest = {**manifest, "schema_version": SCHEMA_VERSION, "embedding_model": self.model_id}
        if self.space is not None:
            manifest["vectors"] = {"mode": self.space.mode, "store_id": self.space.store_id}
        if self.model_version:
            manifest["embedding_model_version"] = self.model_version
        (staging / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        _fsync_tree(staging)
        gen = self.root / f"{_GEN_PREFIX}{self.number:06d}"
        os.rename(staging, gen)
        self.staging = None
        pointer_tmp = self.root / "CURRENT.tmp"
        pointer_tmp.write_text(gen.name + "\n", encoding="utf-8")
        with open(pointer_tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(pointer_tmp, self.root / "CURRENT")  # the one atomic step that publishes the run
        _fsync_dir(self.root)
        self._drop_old_generations(keep={gen.name, self.base.name if self.base else ""})
        with contextlib.suppress(Exception):  # the run is published; a segment left behind goes next time
            self.drop_unlisted_segments()
        return gen

    def __exit__(self, *exc: object) -> None:
        try:
            if self.staging is not None:
                shutil.rmtree(self.staging, ignore_errors=True)
                self.staging = None
        finally:
            self.lock.__exit__()

    def _remove_leftovers(self) -> None:
        for path in self.root.glob(_STAGING_PREFIX + "*"):
            log.info("removing %s, left by an interrupted run", path.name)
            shutil.rmtree(path, ignore_errors=True)
        (self.root / "CURRENT.tmp").unlink(missing_ok=True)

    def _drop_old_generations(self, keep: set[str]) -> None:
        # The previous generation stays one more run: a reader opened before this commit may still use it.
        for path in self.root.glob(_GEN_PREFIX + "*"):
            if path.name not in keep:
                shutil.rmtree(path, ignore_errors=True)


def _what_built(manifest: dict[str, Any], model_id: str, model_version: str | None) -> str:
    """How the manifest's store differs from what this run makes: its model, its model's version, or its schema."""
    built = str(manifest.get("embedding_model"))
    version = manifest.get("embedding_model_version")
    if built != model_id:
        return built
    if model_version and version != model_version:
        return f"{built} ({version})"
    return f"{built}, store schema {manifest.get('schema_version')}"


def _gen_number(path: Path) -> int:
    try:
        return int(path.name[len(_GEN_PREFIX) :])
    except ValueError:
        return 0


def vector_mode(chroma_url: str | None) -> str:
    """Where a configuration keeps vectors: "server" (a Chroma server's URL is set) or "embedded"."""
    return "server" if chroma_url else "embedded"


def check_vectors_at(manifest: dict[str, Any], mode: str, root: Path) -> None:
    """Refuse to read or extend a store's vectors in the other mode (`mode`: "embedded" or "server")."""
    built = (manifest.get("vectors") or {}).get("mode", "embedded")
    if built != mode:
        where = "on a Chroma server" if built == "server" else f"in {root / SEGMENTS_DIR}"
        fix = (
            "pass its --chroma-url (or CAREER_ASSISTANT_CHROMA_URL)" if built == "server" else "leave out --chroma-url"
        )
        raise StoreMismatchError(
            f"store {root} keeps its vectors {where}, but {mode} mode is configured. Hint: {fix}, or rebuild "
            "it in this mode with `career-assistant ingest --rebuild ...`."
        )


def open_generation(root: Path, model_id: str, model_version: str | None = None) -> tuple[Path, dict[str, Any]]:
    """The live generation and its manifest, checked against the configured model (read side)."""
    if not root.is_dir():
        raise StoreMissingError(
            f"no store at {root}. Hint: build it with `career-assistant ingest --bundled` (or your own files)."
        )
    gen = current_generation(root)
    if gen is None:
        raise StoreMissingError(f"{root} holds no built store yet. Hint: run `career-assistant ingest PATH...`.")
    manifest = read_manifest(gen)
    check_compatible(manifest, model_id, root, model_version)
    return gen, manifest


# -- vector segments -----------------------------------------------------------------------------

KINDS = ("posting", "article")
_SEGMENT_PREFIX = {"posting": "p", "article": "a"}
SEGMENTS_DIR = "vectors"
_STORE_ID = "STORE_ID"


@dataclass(frozen=True)
class Segment:
    """One immutable set of vectors of one kind (postings or article chunks).

    A generation lists the segments it reads; an ingest adds a new segment with the records it embeds and
    never writes into a segment an earlier generation lists, so readers of the live generation are never
    disturbed. Records a generation no longer uses stay in their segment, dead, until the segment is folded
    into a new one; readers skip them (`live` of `records` are in use).
    """

    name: str
    kind: str
    records: int
    live: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "records": self.records, "live": self.live}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Segment:
        return cls(str(raw["name"]), str(raw["kind"]), int(raw["records"]), int(raw["live"]))


def new_segment_name(kind: str, generation: int) -> str:
    """A name no other run uses: the kind's letter, the generation it is made for, and a random tag."""
    return f"{_SEGMENT_PREFIX[kind]}{generation:06d}-{secrets.token_hex(3)}"


def manifest_segments(manifest: dict[str, Any]) -> list[Segment]:
    return [Segment.from_dict(raw) for raw in manifest.get("segments", [])]


def store_id(root: Path, create: bool = False) -> str:
    """The store's own id, which names its collections on a Chroma server (several stores can share one)."""
    path = root / _STORE_ID
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        if not create:
            raise StoreMissingError(f"{root} holds no built store yet (no {_STORE_ID}).") from None
    tmp = root / f"{_STORE_ID}.{os.getpid()}-{secrets.token_hex(4)}"
    tmp.write_text(secrets.token_hex(6) + "\n", encoding="ascii")
    with contextlib.suppress(FileExistsError):  # two first runs at once: the first link wins, both read it
        os.link(tmp, path)
    tmp.unlink()
    return path.read_text(encoding="ascii").strip()
