"""The LangChain retriever over a store (`CareerAssistant.retriever`): the hybrid search of `assistant.retrieval`
behind LangChain's `BaseRetriever`. Kept apart so that commands which do not answer (ingest, check) start
without importing LangChain."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from assistant.retrieval import Evidence, hybrid_search


class HybridRetriever(BaseRetriever):
    """A LangChain retriever over a store: `invoke("question")` gives fused, diverse Documents.

    Attributes:
        corpus: an opened store (`assistant.corpus.Corpus`).
        k: how many passages to return.
        kinds: which collections to search: "article", "posting" or both.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    corpus: Any
    k: int = 5
    kinds: tuple[str, ...] = ("article", "posting")

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [e.to_document() for e in self.search(query, k=self.k, kinds=self.kinds)]

    def search(self, text: str, **options: Any) -> list[Evidence]:
        """`assistant.retrieval.hybrid_search` over this retriever's store (k, kinds, filters, expansion)."""
        return hybrid_search(self.corpus, text, **options)
