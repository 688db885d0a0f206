"""One frozen Settings object, read by the CLI, the API, the tests and the docs alike.

Values come from defaults, then `CAREER_ASSISTANT_*` environment variables, then explicit
overrides (CLI flags or keyword arguments), and are validated once, at start-up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from assistant.errors import UserError

PACKAGE_ROOT = Path(__file__).resolve().parent
#: The corpus shipped inside the `ingest` package: seed articles and three openly licensed posting sets.
BUNDLED_CORPUS = PACKAGE_ROOT.parent / "ingest" / "corpus"
#: Vocabularies (cities, roles, skills) kept as data, read by both ingest and the assistant.
VOCAB_DIR = PACKAGE_ROOT / "data"

EMBEDDING_BACKENDS = ("onnx-int8", "onnx", "torch")
#: The embedding models that ship inside a Python package (any other: a local folder in `embedding_model`).
USE_MODEL_NAME = "use-multilingual-v3"
MINILM_MODEL_NAME = "all-MiniLM-L6-v2"
EMBEDDING_MODELS = (USE_MODEL_NAME, MINILM_MODEL_NAME)
ENV_PREFIX = "CAREER_ASSISTANT_"


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "career-assistant"


@dataclass(frozen=True)
class Settings:
    store: Path = Path("vectorstore")
    """Folder of the on-disk store (Chroma collections, postings table, manifest)."""

    embedding_model_name: str = USE_MODEL_NAME
    """Which packaged embedding model: `use-multilingual-v3` (Google's multilingual Universal Sentence
    Encoder v3 in numpy, 512 dimensions, reads Chinese and English alike; the default, chosen by
    benchmarks/retrieval.py) or `all-MiniLM-L6-v2` (English, 384 dimensions). Ignored when
    `embedding_model` names a folder."""

    embedding_model: Path | None = None
    """A local sentence-transformers model folder (bge-m3, multilingual-e5, ...), loaded by path; it takes
    the place of `embedding_model_name`. None: the packaged model that `embedding_model_name` names."""

    embedding_backend: str = "onnx-int8"
    """How all-MiniLM-L6-v2 or a local folder runs: `onnx-int8` (fastest, cosine 0.99 to fp32), `onnx`
    (fp32) or `torch`. use-multilingual-v3 always runs in numpy."""

    embedding_threads: int = 1
    """BLAS threads of the numpy encoder (use-multilingual-v3); 0: one per CPU core, at most 4. One is the
    default: on an idle 2-core machine a second thread adds a quarter (255 against 200 texts/s) for twice
    the CPU time, and beside any other busy process (a server, another ingest) it spins and collapses
    (10-14 against 41 texts/s, measured under load)."""

    embedding_workers: int = 0
    """Copies of the numpy encoder (use-multilingual-v3) that share a large call (ingest), one thread each;
    0: one per CPU core, at most 4. Each copy adds about 100 MB; questions use one."""

    model_cache: Path = field(default_factory=_default_cache)
    """Where the ONNX export of the model is kept between runs."""

    embed_batch_size: int = 64
    """Texts per embedding batch."""

    max_file_mb: float = 200.0
    """Files larger than this are refused by ingest (a guard against the wrong file)."""

    max_unpacked_mb: float = 1000.0
    """An .xlsx workbook whose parts unpack to more than this is refused before it is read (a zip bomb)."""

    max_rows: int = 2_000_000
    """Rows read from one postings file; a file with more is refused (it would not fit in memory anyway)."""

    max_columns: int = 500
    """Columns of a postings file's header; a header with more is refused (a sheet's cells past it are not read)."""

    max_cell_chars: int = 100_000
    """Characters in one value of a postings file; a file holding a longer one is refused, naming where."""

    llm: str | None = None
    """A chat model to phrase answers (the figures stay computed; a reply with a number not in them is replaced
    by the assistant's own answer, with a note): `ollama:MODEL` (a local Ollama, `OLLAMA_HOST` or
    127.0.0.1:11434), `MODEL@http://HOST:PORT/v1` (any OpenAI-compatible server: llama.cpp, vLLM, LM Studio,
    DeepSeek, Qwen; its key, if any, in `CAREER_ASSISTANT_LLM_API_KEY`), or a hosted provider `openai:MODEL`
    (`OPENAI_API_KEY`) or `anthropic:MODEL` (`ANTHROPIC_API_KEY`, with `pip install langchain-anthropic`).
    None: answers are written by the assistant alone."""

    llm_max_tokens: int = 600
    """The longest reply asked of the chat model, in tokens."""

    llm_timeout_s: float = 120.0
    """How long one reply from the chat model may take before the assistant's own answer is shown instead."""

    chroma_url: str | None = None
    """A Chroma server holding the store's vectors (`http://HOST:PORT`; `chroma run`, or Chroma's Python server
    with token authentication); the postings table and the generations stay in `store`. None: the vectors are
    embedded in `store`. See the README's "Running at scale"."""

    chroma_token: str | None = None
    """The token of a Chroma server with token authentication (set it in the environment, not on a command
    line: `CAREER_ASSISTANT_CHROMA_TOKEN`)."""

    def __post_init__(self) -> None:
        if self.chroma_url is not None and not self.chroma_url.startswith(("http://", "https://")):
            raise UserError(f"the Chroma URL must look like http://HOST:PORT, got {self.chroma_url!r}")
        if self.embedding_backend not in EMBEDDING_BACKENDS:
            raise UserError(
                f"unknown embedding backend {self.embedding_backend!r}; expected one of {', '.join(EMBEDDING_BACKENDS)}"
            )
        if self.embedding_model_name not in EMBEDDING_MODELS:
            raise UserError(
                f"unknown embedding model {self.embedding_model_name!r}; expected one of "
                f"{', '.join(EMBEDDING_MODELS)}. Hint: a model of your own goes in "
                f"{ENV_PREFIX}EMBEDDING_MODEL as a local sentence-transformers folder"
            )
        if self.embedding_workers < 0:
            raise UserError(f"embedding_workers must be 0 (one per core) or more, got {self.embedding_workers}")
        if self.embedding_threads < 0:
            raise UserError(f"embedding_threads must be 0 (one per core) or more, got {self.embedding_threads}")
        if self.embed_batch_size < 1:
            raise UserError(f"embed_batch_size must be at least 1, got {self.embed_batch_size}")
        if self.max_file_mb <= 0:
            raise UserError(f"max_file_mb must be positive, got {self.max_file_mb}")
        for name in ("max_unpacked_mb", "max_rows", "max_columns", "max_cell_chars", "llm_max_tokens", "llm_timeout_s"):
            if getattr(self, name) <= 0:
                raise UserError(f"{name} must be positive, got {getattr(self, name)}")
        if self.embedding_model is not None and not Path(self.embedding_model).is_dir():
            raise UserError(
                f"embedding model folder {self.embedding_model} does not exist. "
                "Hint: pass a local sentence-transformers model folder, or leave it unset for the packaged one."
            )

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then `CAREER_ASSISTANT_<FIELD>` variables, then non-None `overrides`."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = _coerce(f.name, raw)
        for name, value in overrides.items():
            if value is not None:
                values[name] = _coerce(name, value) if isinstance(value, str) else value
        return cls(**values)

    def environ(self) -> dict[str, str]:
        """These settings as `CAREER_ASSISTANT_*` variables: a child process's `from_env()` reads the same."""
        return {ENV_PREFIX + f.name.upper(): str(getattr(self, f.name)) for f in fields(self)
                if getattr(self, f.name) is not None}  # fmt: skip

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _coerce(name: str, raw: str) -> Any:
    if name in ("store", "embedding_model", "model_cache"):
        return Path(raw).expanduser()
    if name in (
        "embed_batch_size",
        "embedding_threads",
        "embedding_workers",
        "max_rows",
        "max_columns",
        "max_cell_chars",
        "llm_max_tokens",
    ):
        try:
            return int(raw)
        except ValueError:
            raise UserError(f"{ENV_PREFIX}{name.upper()} must be a whole number, got {raw!r}") from None
    if name in ("max_file_mb", "max_unpacked_mb", "llm_timeout_s"):
        try:
            return float(raw)
        except ValueError:
            raise UserError(f"{ENV_PREFIX}{name.upper()} must be a number, got {raw!r}") from None
    return raw
