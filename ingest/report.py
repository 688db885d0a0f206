"""What an ingest run did, file by file, and the closing report the CLI prints."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from typing import Any


@dataclass
class FileResult:
    """The outcome for one input file."""

    display: str
    kind: str  # "postings", "articles" or "" when unknown
    status: str = "pending"  # added, changed, unchanged, failed, ignored
    rows_in: int = 0
    records: int = 0
    layout: str = ""
    encoding: str = ""
    skipped: Counter[str] = field(default_factory=Counter)
    unknown: Counter[str] = field(default_factory=Counter)
    error: str = ""


@dataclass
class IngestReport:
    """Totals of a run; `ok` is False when any file failed (the CLI then exits 1)."""

    store: str
    files: list[FileResult] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    postings: int = 0
    posting_vectors: int = 0  # vector records: postings of one board with the same embedded text share one
    chunks: int = 0
    rows_in: int = 0  # posting rows read from new or changed files
    chunks_in: int = 0  # article chunks made from new or changed files
    texts_embedded: int = 0
    texts_reused: int = 0
    records_deleted: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0
    committed: bool = False
    near_duplicates: int = 0
    dimension: int = 0
    rebuilt_for_model: str = ""  # the model the store was built with, when this run rebuilt it for another

    @property
    def ok(self) -> bool:
        return not any(f.status == "failed" for f in self.files)

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]

    def to_dict(self) -> dict[str, object]:
        """The report for programs (`ingest --json`): totals, each file's outcome, and the rendered text."""
        files = [
            {
                "file": f.display,
                "kind": f.kind,
                "status": f.status,
                "records": f.records,
                "rows_in": f.rows_in,
                "error": f.error,
            }  # fmt: skip
            for f in self.files
        ]
        return {
            "ok": self.ok, "committed": self.committed, "store": self.store, "postings": self.postings,
            "chunks": self.chunks, "files": files, "seconds": round(self.seconds, 2), "report": self.render(),
            "texts_embedded": self.texts_embedded, "texts_reused": self.texts_reused,
            "records_deleted": self.records_deleted,
        }  # fmt: skip

    def to_state(self) -> dict[str, Any]:
        """Every field, for another process to rebuild the report with `from_state` (an isolated ingest)."""
        state = asdict(replace(self, files=[]))  # asdict would rebuild a Counter from its (key, count) pairs
        state["files"] = [{**asdict(replace(f, skipped=Counter(), unknown=Counter())), "skipped": dict(f.skipped),
                           "unknown": dict(f.unknown)} for f in self.files]  # fmt: skip
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> IngestReport:
        files = [FileResult(**{**f, "skipped": Counter(f["skipped"]), "unknown": Counter(f["unknown"])})
                 for f in state["files"]]  # fmt: skip
        return cls(**{**state, "files": files})

    def render(self) -> str:
        """A closing report a person can read in a terminal."""
        by_status = Counter(f.status for f in self.files)
        rate = (self.rows_in + self.chunks_in) / self.seconds if self.seconds > 0 else 0.0
        rebuilt = f" (rebuilt: it was made with embedding model {self.rebuilt_for_model})"
        lines = [
            f"store: {self.store}" + (rebuilt if self.rebuilt_for_model else ""),
            "files: " + ", ".join(f"{n} {s}" for s, n in sorted(by_status.items())) if self.files else "files: none",
            f"read: {self.rows_in:,} posting rows and {self.chunks_in:,} article chunks from new or changed files",
            f"store holds: {self.postings:,} postings · {self.chunks:,} article chunks",
            f"texts embedded: {self.texts_embedded:,} unique · reused: {self.texts_reused:,}"
            f" · records removed: {self.records_deleted:,}",
            f"time: {self.seconds:.1f} s (embedding {self.embed_seconds:.1f} s) · {rate:,.0f} rows/s",
        ]
        if self.near_duplicates:
            lines.append(
                f"near-duplicates: {self.near_duplicates:,} postings share title, company and city with another"
                " (title and city where no company is given; kept as separate postings, and counts say both)"
            )
        skipped: Counter[str] = Counter()
        unknown: Counter[str] = Counter()
        for result in self.files:
            skipped.update(result.skipped)
            unknown.update(result.unknown)
        if skipped:
            lines.append(f"rows skipped: {sum(skipped.values()):,}")
            lines += [f"  {n:>6,}  {reason}" for reason, n in skipped.most_common(8)]
        if unknown:
            lines.append("values kept as unknown (the row still counts):")
            lines += [f"  {n:>6,}  {reason}" for reason, n in unknown.most_common(8)]
        for result in self.files:
            if result.status == "failed":
                lines.append(f"FAILED {result.display}: {result.error}")
            elif result.status == "ignored":
                lines.append(f"ignored {result.display}: {result.error}")
        for display in self.pruned:
            lines.append(f"pruned {display}: file is gone, its records were removed")
        if not self.committed:
            lines.append("store unchanged")
        return "\n".join(lines)
