"""An optional writer that phrases the answer with any LangChain chat model, and checks its numbers.

The chat model sees only the findings the default writer would use. Every number in its reply must be
one of the numbers in those findings (figures, the default answer, the quoted sources); a reply that
invents one is not shown: the default answer is returned instead and the reason is logged.
"""

from __future__ import annotations

import logging
import re
import string
from dataclasses import replace
from functools import cache
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableLambda

from assistant.errors import RuntimeFailure
from assistant.schema import Answer
from assistant.templates import PROMPTS_DIR

log = logging.getLogger(__name__)

PROMPT_FIELDS = {"language_name", "question", "facts", "sources"}
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


@cache
def answer_prompt() -> str:
    """`prompts/llm_answer.txt`, checked for exactly its placeholders."""
    text = (PROMPTS_DIR / "llm_answer.txt").read_text(encoding="utf-8")
    used = {field for _, field, _, _ in string.Formatter().parse(text) if field}
    if used != PROMPT_FIELDS:
        raise RuntimeFailure(f"llm_answer.txt uses {sorted(used)}, expected {sorted(PROMPT_FIELDS)}")
    return text


def numbers(text: str) -> set[str]:
    """Numbers as written, normalised (commas and trailing .0 dropped), so 25,000 and 25000 match."""
    out = set()
    for raw in _NUMBER.findall(text):
        value = raw.replace(",", "")
        out.add(value[:-2] if value.endswith(".0") else value)
    return out


def invented_numbers(reply: str, grounded: Answer) -> set[str]:
    """Numbers in the reply that appear nowhere in the findings (markers like [3] are allowed)."""
    allowed = numbers(grounded.text)
    for figure in grounded.figures:
        allowed |= numbers(f"{figure.value} {figure.n} {figure.period} {' '.join(figure.filters.values())}")
    for citation in grounded.citations:
        allowed |= numbers(citation.text)
    allowed |= {str(i) for i in range(1, len(grounded.citations) + 1)}
    return numbers(reply) - allowed


def llm_writer(chat_model: BaseChatModel, default_writer: Runnable[Any, Answer]) -> Runnable[Any, Answer]:
    """The writer step for `CareerAssistant.chain` that phrases with `chat_model`, guarded by the default."""

    def write(parts: Any) -> Answer:
        grounded = default_writer.invoke(parts)
        if grounded.intent == "out_of_scope" or not (grounded.figures or grounded.citations):
            return grounded  # nothing to phrase: a refusal or "no data" stays exactly as written
        sources = "\n".join(
            f"[{n}] {c.source_file} {c.locator}: {' '.join(c.text.split())[:600]}"
            for n, c in enumerate(grounded.citations, start=1)
        )
        prompt = answer_prompt().format(
            language_name="Chinese" if grounded.language == "zh" else "English",
            question=parts["query"].text, facts=grounded.text, sources=sources,
        )  # fmt: skip
        try:
            reply = chat_model.invoke(prompt)
        except Exception as exc:  # the model is outside: any failure falls back to the grounded answer
            log.warning("chat model failed (%s); using the default writer", exc)
            return grounded
        text = reply.content if isinstance(reply.content, str) else str(reply.content)
        extra = invented_numbers(text, grounded)
        if extra or not text.strip():
            log.warning("chat model reply not shown: numbers not in the findings %s", sorted(extra))
            return grounded
        return replace(grounded, text=text.strip())

    return RunnableLambda(write, name="llm_write")
