"""`career-assistant check`: does a store's live generation hold what its manifest says, and can it be read?

The postings table, the vector collections and the manifest must agree: the same counts, every posting
mapped to a vector record that exists, the same vector ids as the table's keys and chunk ids, the model
and schema this version reads. The vectors are opened and queried by a separate process (run as
`python -m ingest.check VECTORS_DIR ...`), so a damaged index that would crash or hang a reader is found
without taking the checker down. `--repair` rebuilds the store from the files the manifest lists, read the
way they were read, into a new generation: the damaged one stays live until the rebuild is published.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.config import Settings
from assistant.errors import CareerAssistantError, UserError
from ingest.report import IngestReport

#: The separate process that reads the vectors gets this long (a damaged index must not hang the check).
VECTOR_CHECK_TIMEOUT_S = 300
SELF_QUERIES = 8  # stored vectors queried back, spread over the ids
_REPAIR = "Repair: `career-assistant check --repair` rebuilds the store from the manifest's files."


@dataclass
class CheckResult:
    """What `check` found: `problems` make the store unfit to answer from; `notes` are for information."""

    store: str
    generation: str = ""
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def render(self) -> str:
        head = f"store: {self.store}" + (f" ({self.generation})" if self.generation else "")
        lines = [head, *(f"ok: {n}" if not n.startswith("note:") else n for n in self.notes)]
        lines += [f"PROBLEM: {p}" for p in self.problems]
        unreachable = any("cannot reach the Chroma server" in p or "refused the token" in p for p in self.problems)
        if unreachable:  # nothing is known to be wrong with the store: rebuilding it would not help
            lines.append(
                "The vectors could not be read: start the Chroma server (or correct --chroma-url), then check again."
            )
        else:
            lines.append(_REPAIR if self.problems else "the store is consistent")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, object]:
        return {"store": self.store, "generation": self.generation, "ok": self.ok, "problems": self.problems,
                "notes": self.notes}  # fmt: skip


def check_store(settings: Settings) -> CheckResult:
    """Check the live generation of `settings.store` (see the module docstring); never changes the store."""
    from assistant.embeddings import model_identity
    from assistant.generations import check_compatible, current_generation, manifest_segments, read_manifest
    from assistant.market import PostingsTable
    from assistant.store import index_file_problems

    root = settings.store
    result = CheckResult(store=str(root))
    if not root.is_dir():
        result.problems.append(f"no store at {root}")
        return result
    try:
        gen = current_generation(root)
        if gen is None:
            result.problems.append("no built generation (CURRENT is missing)")
            return result
        result.generation = gen.name
        manifest = read_manifest(gen)
    except CareerAssistantError as exc:
        result.problems.append(str(exc))
        return result
    counts = manifest.get("counts", {})
    identity = model_identity(settings)
    try:
        check_compatible(manifest, identity.model_id, root, identity.version)
        result.notes.append(f"made with {identity.model_id} ({identity.version}), the configured model")
    except CareerAssistantError as exc:
        result.problems.append(str(exc))
    built_at = (manifest.get("vectors") or {}).get("mode", "embedded")
    if built_at != ("server" if settings.chroma_url else "embedded"):
        result.problems.append(
            f"the store keeps its vectors {'on a Chroma server' if built_at == 'server' else 'embedded'}"
            f"; {'pass its --chroma-url' if built_at == 'server' else 'leave out --chroma-url'}"
        )
        return result
    try:
        with PostingsTable(gen / "postings.duckdb", read_only=True) as table:
            held = table.consistency()
    except Exception as exc:  # duckdb raises its own types for a damaged file; name what happened
        result.problems.append(f"the postings table cannot be read ({type(exc).__name__}: {exc})")
        return result
    _compare(result, "postings in the table", held["postings"], counts.get("postings"))
    _compare(result, "article chunks in the table", held["chunks"], counts.get("chunks"))
    if held["lexical_docs"] != held["postings"] + held["chunks"]:
        result.problems.append(f"the word index holds {held['lexical_docs']:,} documents, not the "
                               f"{held['postings'] + held['chunks']:,} postings and chunks")  # fmt: skip
    if held["unmapped"]:
        result.problems.append(f"{held['unmapped']:,} postings or chunks have no vector record")
    for kind, label in (("posting", "postings"), ("article", "article chunks")):
        if held[f"{kind}_without_record"]:
            result.problems.append(f"{held[f'{kind}_without_record']:,} {label}' vector records are in no segment")
        if held[f"{kind}_records_unmapped"]:
            result.problems.append(f"{held[f'{kind}_records_unmapped']:,} live {kind} records belong to nothing")
    segments = manifest_segments(manifest)
    listed = {s.name for s in segments}
    for name in sorted(set(held["segments"]) - listed):
        result.problems.append(f"the table lists records in segment {name}, which the manifest does not list")
    if (manifest.get("vectors") or {}).get("mode", "embedded") == "embedded":
        for segment in segments:
            for problem in index_file_problems(root / "vectors" / segment.name):
                result.problems.append(f"the vector index of segment {segment.name} is damaged: {problem}")
    vectors = _read_vectors([s.name for s in segments], settings)
    if "error" in vectors:
        result.problems.append(f"the vector index cannot be read: {vectors['error']}")
    else:
        for segment in segments:
            got = vectors["segments"].get(segment.name, {})
            expected = held["segments"].get(segment.name, (0, ""))
            if "error" in got:
                result.problems.append(f"vector segment {segment.name} cannot be read: {got['error']}")
            elif segment.records != expected[0]:
                result.problems.append(f"vector segment {segment.name}: the manifest says {segment.records:,} "
                                       f"records, the table lists {expected[0]:,}")  # fmt: skip
            elif [got["count"], got["digest"]] != list(expected):
                result.problems.append(f"vector segment {segment.name} holds {got['count']:,} records, the table "
                                       f"lists {expected[0]:,}: ids differ")  # fmt: skip
            elif not got["finds_itself"]:
                result.problems.append(f"the vector index of segment {segment.name} does not find a stored vector "
                                       "by itself")  # fmt: skip
        if not any(p.startswith(("vector segment", "the vector index")) for p in result.problems):
            for kind, label in (("posting", "postings"), ("article", "articles")):
                mine = [s for s in segments if s.kind == kind]
                result.notes.append(
                    f"{held['live'][kind]:,} live {label} vectors in {len(mine)} segment(s) "
                    f"({sum(s.records for s in mine):,} records) match the table and answer a query"
                )
        dimension = manifest.get("dimension")
        if dimension and vectors.get("dimension") not in (None, dimension):
            result.problems.append(f"vectors have {vectors['dimension']} dimensions, the manifest says {dimension}")
    _compare(result, "posting vector records", held["live"]["posting"], counts.get("posting_vectors"))
    _note_files(result, manifest)
    return result


def _compare(result: CheckResult, what: str, held: int, recorded: int | None) -> None:
    if recorded is None:
        return
    if held != recorded:
        result.problems.append(f"{held:,} {what}, the manifest says {recorded:,}")
    else:
        result.notes.append(f"{held:,} {what}, as the manifest says")


def _note_files(result: CheckResult, manifest: dict[str, Any]) -> None:
    from ingest.pipeline import path_of

    gone, changed = [], []
    for key, entry in manifest.get("files", {}).items():
        path = path_of(key)
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            gone.append(entry.get("display", key))
            continue
        if digest != entry.get("sha256"):
            changed.append(entry.get("display", key))
    if gone:
        result.notes.append(f"note: {len(gone)} ingested file(s) no longer exist (e.g. {gone[0]}); their records "
                            "stay until `ingest --prune`, and --repair cannot rebuild them")  # fmt: skip
    if changed:
        result.notes.append(f"note: {len(changed)} file(s) changed since they were ingested (e.g. {changed[0]}); "
                            "`ingest` them again to update")  # fmt: skip


def _read_vectors(segments: list[str], settings: Settings) -> dict[str, Any]:
    """Each segment's ids and self-queries, read by a separate process (a damaged index must not take `check`
    down); it reads the same settings (the store, the model, the Chroma server) from its environment."""
    import os

    command = [sys.executable, "-m", "ingest.check", json.dumps(segments)]
    env = {**os.environ, **settings.environ()}
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=VECTOR_CHECK_TIMEOUT_S, env=env,
                             cwd=Path(__file__).resolve().parent.parent)  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"error": f"reading it did not finish in {VECTOR_CHECK_TIMEOUT_S} s"}
    if run.returncode != 0:
        last = (run.stderr.strip().splitlines() or [f"exit status {run.returncode}"])[-1]
        return {"error": f"the reading process failed ({last[:300]})"}
    try:
        return dict(json.loads(run.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        return {"error": f"the reading process said {run.stdout[-300:]!r}"}


def _vector_summary(settings: Settings, segments: list[str]) -> dict[str, Any]:
    """Run in the separate process: each segment's ids (count and digest), and stored vectors queried back."""
    import numpy as np

    from assistant.market import id_digest
    from ingest.pipeline import vector_space

    out: dict[str, Any] = {"segments": {}}
    try:
        space = vector_space(settings)
    except CareerAssistantError as exc:
        return {"error": str(exc)}
    try:
        for name in segments:
            try:
                collection = space.open(name)
                ids = space.ids(collection)
            except Exception as exc:  # a missing or unreadable segment is named, the others still checked
                out["segments"][name] = {"error": str(exc)[:300]}
                continue
            entry: dict[str, Any] = {"count": len(ids), "digest": id_digest(ids)[1], "finds_itself": True}
            if ids:  # a few stored vectors spread over the ids, each must be its own nearest neighbour
                ids.sort()
                sample = sorted({ids[i * (len(ids) - 1) // (SELF_QUERIES - 1)] for i in range(SELF_QUERIES)})
                got = collection.get(ids=sample, include=["embeddings"])
                stored: Any = np.asarray(got["embeddings"], dtype=np.float32)
                out["dimension"] = int(stored.shape[1])
                hit = collection.query(query_embeddings=list(stored), n_results=1, include=["distances"])
                nearest = [float(d[0]) if d else 1.0 for d in hit["distances"] or [[]]]
                entry["finds_itself"] = len(nearest) == len(sample) and max(nearest) < 1e-3
            out["segments"][name] = entry
    finally:
        space.close()
    return out


def repair_store(settings: Settings, progress: Callable[[str], None] | None = None) -> list[IngestReport]:
    """Rebuild the store from the files its manifest lists, each read as it was read (columns, source, scrape
    date, encoding), into a new generation. Files that no longer exist are named and left out.

    Raises:
        UserError: there is no readable manifest to rebuild from, or none of its files exists.
    """
    from assistant.generations import current_generation, read_manifest
    from ingest.pipeline import IngestOptions, ingest, path_of

    try:
        gen = current_generation(settings.store) if settings.store.is_dir() else None
        manifest = read_manifest(gen) if gen is not None else None
    except CareerAssistantError as exc:
        raise UserError(f"cannot repair from this store's manifest ({exc}). Hint: rebuild it with "
                        "`career-assistant ingest --rebuild FILES...` from your files.") from None  # fmt: skip
    if not manifest:
        raise UserError(f"no store manifest at {settings.store} to repair from. Hint: `career-assistant ingest`.")
    groups: dict[str, tuple[IngestOptions, list[Path]]] = {}
    for key, entry in manifest.get("files", {}).items():
        path = path_of(key)
        if not path.is_file():
            continue
        how = entry.get("read_with", {})
        options = IngestOptions.from_read_with(how)
        groups.setdefault(json.dumps(how, sort_keys=True), (options, []))[1].append(path)
    if not groups:
        raise UserError("none of the files the store was built from exists any more; nothing to rebuild from")
    reports = []
    for n, (options, paths) in enumerate(groups.values()):
        options.rebuild = n == 0  # the first group starts a fresh generation, the others add to it
        reports.append(ingest(paths, settings, options, progress=progress))
    return reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the vector half of `career-assistant check` (a separate process)")
    parser.add_argument("segments", help="the segment names, as a JSON list")
    args = parser.parse_args(argv)
    summary = _vector_summary(Settings.from_env(), json.loads(args.segments))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
