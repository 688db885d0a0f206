"""`CareerAssistant`: the Python API, and the LangChain runnable behind it.

The answer path is one `langchain_core` runnable: understand the question, then compute figures and
retrieve evidence in parallel, then write. A LangChain user can take `assistant.retriever` into their
own chain, or `assistant.chain` and replace its last step with any chat model.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from langchain_core.runnables import Runnable, RunnableLambda, RunnableParallel

from assistant.config import Settings
from assistant.corpus import Corpus
from assistant.planner import advise, evidence_for, figure_blocks, gloss
from assistant.retrieval import HybridRetriever
from assistant.schema import Answer
from assistant.understand import Profile, Query, understand
from assistant.writer import Findings, compose

History = Sequence[Any]


class CareerAssistant:
    """Answers questions about tech jobs from a built store, with exact figures and citations.

    Example:
        >>> ca = CareerAssistant(store="vectorstore")
        >>> ans = ca.ask("What do NLP engineers earn in Beijing?")
        >>> ans.text, ans.citations, ans.figures
    """

    def __init__(
        self, store: str | Path | None = None, settings: Settings | None = None, chat_model: Any = None
    ) -> None:
        """Open a store.

        Args:
            store: the store folder (default: settings, then ./vectorstore).
            settings: all other settings; `Settings.from_env()` when omitted.
            chat_model: any LangChain chat model to phrase answers (optional); its numbers are checked
                against the findings and an answer that invents one falls back to the default writer.
        """
        settings = settings or Settings.from_env()
        self.chat_model = chat_model
        if store is not None:
            settings = settings.with_(store=Path(store))
        self.settings = settings
        self.corpus = Corpus(settings)
        self.retriever = HybridRetriever(corpus=self.corpus, k=4)
        self.chain: Runnable[dict[str, Any], Answer] = self._build_chain()

    def _build_chain(self) -> Runnable[dict[str, Any], Answer]:
        understand_step = RunnableLambda(self._understand, name="understand")
        gather = RunnableParallel(
            query=RunnableLambda(lambda x: x["query"], name="query"),
            profile=RunnableLambda(lambda x: x.get("profile"), name="profile"),
            blocks=RunnableLambda(lambda x: figure_blocks(self.corpus, x["query"]), name="figures"),
            evidence=RunnableLambda(lambda x: evidence_for(self.retriever, x["query"]), name="evidence"),
            advice=RunnableLambda(lambda x: advise(self.corpus, x["query"], x.get("profile")), name="advice"),
        )
        write: Runnable[Any, Answer] = RunnableLambda(self._write, name="write")
        if self.chat_model is not None:
            from assistant.llm import llm_writer

            write = llm_writer(self.chat_model, write)
        return understand_step | gather | write

    def _understand(self, inputs: dict[str, Any]) -> dict[str, Any]:
        previous: Query | None = None
        for turn in _user_turns(inputs.get("history") or ()):
            previous = understand(turn, previous, self.corpus.companies)
        query = understand(inputs["question"], previous, self.corpus.companies)
        return {"query": query, "profile": _profile(inputs.get("profile"), query)}

    @staticmethod
    def _write(parts: dict[str, Any]) -> Answer:
        query: Query = parts["query"]
        rows, profile_text = parts["advice"]
        findings = Findings(
            language=query.language, intent=query.intent, blocks=parts["blocks"], evidence=parts["evidence"],
            advice=rows, profile=profile_text, question=f"{query.text} {gloss(query)}",
        )  # fmt: skip
        return compose(findings)

    def ask(self, question: str, history: History | None = None, profile: Profile | dict[str, Any] | None = None
            ) -> Answer:  # fmt: skip
        """Answer one question.

        Args:
            question: in English or Chinese.
            history: earlier turns, as strings or chat messages ({"role": "user", "content": ...});
                a follow-up ("and in Shenzhen?") inherits the last question's filters.
            profile: the asker's current role, skills, city and monthly pay, for advice.

        Returns:
            An Answer with text, citations, figures and language.
        """
        if not question or not question.strip():
            from assistant.errors import UserError

            raise UserError("empty question: ask about skills, pay, cities or moving into AI roles")
        return self.chain.invoke({"question": question, "history": history, "profile": profile})

    def stream(self, question: str, history: History | None = None, profile: Profile | dict[str, Any] | None = None
               ) -> Iterator[str]:  # fmt: skip
        """The answer's text in pieces (a sentence or line at a time); join them for the whole text."""
        answer = self.ask(question, history, profile)
        piece = ""
        # Split after line ends and sentence ends, keeping every character: "".join(pieces) == answer.text.
        for part in re.split(r"(\n|(?<=[.。;；])[ \t]+)", answer.text):
            piece += part
            if part and part.isspace():
                yield piece
                piece = ""
        if piece:
            yield piece

    def close(self) -> None:
        self.corpus.close()


def _user_turns(history: History) -> list[str]:
    turns = []
    for turn in history:
        if isinstance(turn, str):
            turns.append(turn)
        elif isinstance(turn, dict) and turn.get("role") == "user":
            content = turn.get("content")
            if isinstance(content, list):
                content = " ".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
            turns.append(str(content or ""))
    return [t for t in turns if t.strip()]


def _profile(given: Profile | dict[str, Any] | None, query: Query) -> Profile | None:
    if isinstance(given, Profile):
        return given
    if isinstance(given, dict) and given:
        from assistant.vocab import canonical_city, find_skills, role_family

        city = canonical_city(str(given.get("city") or ""))
        skills = given.get("skills") or ()
        if isinstance(skills, str):
            skills = find_skills(skills)
        title = given.get("role") or given.get("title")
        pay = given.get("monthly_pay") or given.get("pay")
        return Profile(
            title=str(title) if title else None, role=role_family(str(title)) if title else None,
            skills=tuple(skills), city=city.name if city else None, monthly_pay=float(pay) if pay else None,
        )  # fmt: skip
    return query.profile
