"""Optional chat-model steps: a planner that proposes the typed plan, and a writer that phrases the answer.

Both are checked. The planner's JSON becomes a `Plan` only when every value is one the data knows (intents,
measures, role families, cities, skills, plausible pays); anything else falls back to the rules' plan, and
the parts the rules found unusable stay named either way. Figures are still computed with SQL. The writer
sees only the findings the default writer would use; every number in its reply must be one of the numbers
in those findings (figures, the default answer, the quoted sources); a reply that invents one is not shown:
the default answer is returned instead and the reason is logged.
"""

from __future__ import annotations

import json
import logging
import os
import re
import string
from collections.abc import Iterator
from dataclasses import replace
from functools import cache
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import SecretStr

from assistant import vocab
from assistant.errors import RuntimeFailure, UserError
from assistant.plan import INTENTS, MEASURES, Plan
from assistant.schema import EDUCATION_LEVELS, Answer, Filters
from assistant.templates import PROMPTS_DIR

log = logging.getLogger(__name__)

PROMPT_FIELDS = {"language_name", "question", "facts", "sources"}
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


@cache
def _prompt(name: str, fields: frozenset[str]) -> str:
    """`prompts/<name>`, checked for exactly its placeholders."""
    text = (PROMPTS_DIR / name).read_text(encoding="utf-8")
    used = {field for _, field, _, _ in string.Formatter().parse(text) if field}
    if used != fields:
        raise RuntimeFailure(f"{name} uses {sorted(used)}, expected {sorted(fields)}")
    return text


def answer_prompt() -> str:
    return _prompt("llm_answer.txt", frozenset(PROMPT_FIELDS))


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


#: What the page and `ask --json` say when the model's wording was not shown.
NOTICES = {
    "invented": {
        "en": "The chat model's wording was not shown: it gave numbers that are not in the data ({numbers}). "
        "This is the assistant's own answer.",
        "zh": "未显示语言模型的回答：其中有数据里没有的数字（{numbers}）。以下是助手自己的回答。",
    },
    "failed": {
        "en": "The chat model did not answer ({reason}). This is the assistant's own answer.",
        "zh": "语言模型没有回答（{reason}）。以下是助手自己的回答。",
    },
    "empty": {
        "en": "The chat model gave an empty reply. This is the assistant's own answer.",
        "zh": "语言模型的回答为空。以下是助手自己的回答。",
    },
}


class LLMWriter:
    """The writer step that phrases the findings with a chat model, guarded by the default writer: the model
    sees only the findings and their sources (as data, never as instructions), and a reply with a number that
    is not in them is replaced by the default answer, with a notice saying why."""

    def __init__(self, chat_model: Any, default_writer: Runnable[Any, Answer]) -> None:
        self.chat_model = chat_model
        self.default_writer = default_writer

    def prompt(self, parts: Any, grounded: Answer) -> str | None:
        """The prompt for these findings, or None when there is nothing to phrase (a refusal or "no data" stays
        exactly as the default writer wrote it)."""
        if grounded.intent == "out_of_scope" or not (grounded.figures or grounded.citations):
            return None
        sources = "\n".join(
            f"[{n}] {c.source_file} {c.locator}: {' '.join(c.text.split())[:600]}"
            for n, c in enumerate(grounded.citations, start=1)
        )
        return answer_prompt().format(
            language_name="Chinese" if grounded.language == "zh" else "English",
            question=parts["query"].text, facts=grounded.text, sources=sources,
        )  # fmt: skip

    @staticmethod
    def finish(text: str, grounded: Answer) -> Answer:
        """The model's reply as the answer, or the default answer with a notice when the reply invents a number
        or is empty."""
        lang = "zh" if grounded.language == "zh" else "en"
        extra = invented_numbers(text, grounded)
        if extra:
            log.warning("chat model reply not shown: numbers not in the findings %s", sorted(extra))
            shown = ", ".join(sorted(extra)[:5]) + (" …" if len(extra) > 5 else "")
            return replace(grounded, notice=NOTICES["invented"][lang].format(numbers=shown))
        if not text.strip():
            return replace(grounded, notice=NOTICES["empty"][lang])
        return replace(grounded, text=text.strip())

    @staticmethod
    def failed(exc: Exception, grounded: Answer) -> Answer:
        log.warning("chat model failed (%s); using the default writer", exc)
        lang = "zh" if grounded.language == "zh" else "en"
        reason = f"{type(exc).__name__}: {str(exc)[:160]}" if str(exc) else type(exc).__name__
        return replace(grounded, notice=NOTICES["failed"][lang].format(reason=reason))

    def write(self, parts: Any) -> Answer:
        grounded = self.default_writer.invoke(parts)
        prompt = self.prompt(parts, grounded)
        if prompt is None:
            return grounded
        try:
            reply = self.chat_model.invoke(prompt)
        except Exception as exc:  # the model is outside: any failure falls back to the grounded answer
            return self.failed(exc, grounded)
        return self.finish(_text(reply), grounded)

    def stream(self, parts: Any) -> Iterator[str | Answer]:
        """The reply's text so far, growing token by token, then the final Answer (which is the default answer
        with a notice when the whole reply fails the number check)."""
        grounded = self.default_writer.invoke(parts)
        prompt = self.prompt(parts, grounded)
        if prompt is None:
            yield grounded
            return
        text = ""
        try:
            for chunk in self.chat_model.stream(prompt):
                piece = _text(chunk)
                if piece:
                    text += piece
                    yield text
        except Exception as exc:  # the model is outside: any failure falls back to the grounded answer
            yield self.failed(exc, grounded)
            return
        yield self.finish(text, grounded)

    def runnable(self) -> Runnable[Any, Answer]:
        return RunnableLambda(self.write, name="llm_write")


def _text(message: Any) -> str:
    content = getattr(message, "content", message)
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks: keep the text ones
        return "".join(str(b.get("text", "")) if isinstance(b, dict) else str(b) for b in content)
    return str(content)


def llm_writer(chat_model: Any, default_writer: Runnable[Any, Answer]) -> Runnable[Any, Answer]:
    """The writer step for `CareerAssistant.chain` that phrases with `chat_model`, guarded by the default."""
    return LLMWriter(chat_model, default_writer).runnable()


# -- choosing a chat model ------------------------------------------------------------------------------------

LLM_FORMS = ("ollama:MODEL", "MODEL@http://HOST:PORT/v1 (an OpenAI-compatible server)", "openai:MODEL",
             "anthropic:MODEL")  # fmt: skip


def chat_model_from_spec(spec: str, max_tokens: int = 600, timeout_s: float = 120.0) -> Any:
    """A LangChain chat model from a `--llm` value (see `Settings.llm` for the forms).

    Raises:
        UserError: the value is in none of the forms, the provider's package is not installed, or a hosted
            provider's key is not in the environment.
    """
    spec = spec.strip()
    model, at, url = spec.partition("@")
    if at and "://" in url:
        if not model:
            raise UserError(f"--llm {spec!r}: name the model before the @, e.g. qwen2.5-7b@{url}")
        from langchain_openai import ChatOpenAI

        # llama.cpp's server and others read `max_tokens`, not the `max_completion_tokens` the client now sends.
        key = os.environ.get("CAREER_ASSISTANT_LLM_API_KEY") or "not-needed"
        return ChatOpenAI(model=model, base_url=url, api_key=SecretStr(key), timeout=timeout_s, max_retries=1,
                          temperature=0, extra_body={"max_tokens": max_tokens})  # fmt: skip
    provider, colon, name = spec.partition(":")
    if not (colon and name):
        raise UserError(f"--llm {spec!r} is not a chat model; use one of: {'; '.join(LLM_FORMS)}")
    if provider == "ollama":
        from langchain_ollama import ChatOllama

        host = os.environ.get("OLLAMA_HOST") or "http://127.0.0.1:11434"
        host = host if "://" in host else f"http://{host}"
        return ChatOllama(model=name, base_url=host, num_predict=max_tokens, temperature=0,
                          client_kwargs={"timeout": timeout_s})  # fmt: skip
    if provider == "openai":
        if not os.environ.get("OPENAI_API_KEY"):
            raise UserError("--llm openai:... needs OPENAI_API_KEY in the environment")
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(model=name, timeout=timeout_s, max_retries=1, temperature=0,
                          max_completion_tokens=max_tokens)  # fmt: skip
    if provider == "anthropic":
        if not os.environ.get("ANTHROPIC_API_KEY"):
            raise UserError("--llm anthropic:... needs ANTHROPIC_API_KEY in the environment")
        try:
            import langchain_anthropic
        except ImportError:
            raise UserError("--llm anthropic:... needs its package: pip install langchain-anthropic") from None
        return langchain_anthropic.ChatAnthropic(model_name=name, timeout=timeout_s, max_retries=1, temperature=0,
                                                 max_tokens_to_sample=max_tokens)  # fmt: skip
    raise UserError(f"--llm {spec!r}: unknown provider {provider!r}; use one of: {'; '.join(LLM_FORMS)}")


PLAN_FIELDS = {"roles", "language", "question"}
_LIST_FIELDS = ("cities", "roles", "skills", "companies", "years", "title_terms", "education")


def plan_prompt() -> str:
    return _prompt("llm_plan.txt", frozenset(PLAN_FIELDS))


class PlanRejected(ValueError):
    """The chat model's plan names something the data does not know; the rules' plan is used."""


def _subject(raw: Any) -> Filters:
    if not isinstance(raw, dict):
        raise PlanRejected(f"a subject must be an object, got {raw!r}")
    unknown = set(raw) - {*_LIST_FIELDS, "pay_min", "pay_max", "experience_years"}
    if unknown:
        raise PlanRejected(f"unknown subject fields {sorted(unknown)}")
    values: dict[str, Any] = {}
    for name in _LIST_FIELDS:
        given = raw.get(name) or []
        if not isinstance(given, list):
            raise PlanRejected(f"{name} must be a list, got {given!r}")
        values[name] = tuple(given)
    cities = []
    for name in values["cities"]:
        city = vocab.canonical_city(str(name))
        if city is None:
            raise PlanRejected(f"unknown city {name!r}")
        cities.append(city.name)
    values["cities"] = tuple(cities)
    if bad := [r for r in values["roles"] if r not in vocab.role_families()]:
        raise PlanRejected(f"unknown role families {bad}")
    skills = [next(iter(vocab.find_skills(str(x))), None) for x in values["skills"]]
    if None in skills:
        raise PlanRejected(f"unknown skills in {values['skills']}")
    values["skills"] = tuple(dict.fromkeys(str(x) for x in skills))
    if bad := [e for e in values["education"] if e not in EDUCATION_LEVELS]:
        raise PlanRejected(f"unknown education levels {bad}")
    if not all(isinstance(y, int) and 1990 <= y <= 2100 for y in values["years"]):
        raise PlanRejected(f"years must be whole years, got {values['years']}")
    for bound in ("pay_min", "pay_max"):
        value = raw.get(bound)
        if value is not None and not (isinstance(value, int | float) and 500 <= value <= 1_000_000):
            raise PlanRejected(f"{bound} {value!r} is not a monthly pay in CNY")
        values[bound] = float(value) if value is not None else None
    experience = raw.get("experience_years")
    if experience is not None:
        if not (isinstance(experience, list) and len(experience) == 2 and all(isinstance(v, int) for v in experience)):
            raise PlanRejected(f"experience_years must be [low, high], got {experience!r}")
        values["experience_years"] = (experience[0], experience[1])
    return Filters(**values)


def plan_from_json(text: str, rules: Plan) -> Plan:
    """The chat model's plan, validated; its parts the rules' (what could not be used stays named).

    Raises:
        PlanRejected: not one JSON object, or a value the data does not know.
    """
    match = re.search(r"\{.*\}", text, re.S)
    if not match:
        raise PlanRejected("no JSON object in the reply")
    try:
        raw = json.loads(match.group(0))
    except json.JSONDecodeError as exc:
        raise PlanRejected(f"not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise PlanRejected("the plan must be a JSON object")
    intent, measure = raw.get("intent"), raw.get("measure")
    if intent not in INTENTS:
        raise PlanRejected(f"unknown intent {intent!r}")
    if measure is not None and measure not in MEASURES:
        raise PlanRejected(f"unknown measure {measure!r}")
    rank_by = raw.get("rank_by") or "count"
    if rank_by not in ("count", "salary"):
        raise PlanRejected(f"unknown rank_by {rank_by!r}")
    pays = raw.get("pays") or []
    if not (isinstance(pays, list) and all(isinstance(p, int | float) and 500 <= p <= 1_000_000 for p in pays)):
        raise PlanRejected(f"pays must be monthly CNY amounts, got {pays!r}")
    subjects = tuple(_subject(s) for s in raw.get("subjects") or [{}])
    if measure == "pay_position" and not pays:
        raise PlanRejected("pay_position without a pay")
    return replace(rules, intent=intent, measure=measure, rank_by=rank_by, pays=tuple(float(p) for p in pays),
                   subjects=subjects)  # fmt: skip


def llm_planner(chat_model: BaseChatModel) -> Any:
    """A function (rules plan -> plan) that asks `chat_model` for the plan and falls back to the rules' plan."""

    def propose(rules: Plan) -> Plan:
        if rules.intent == "out_of_scope":
            return rules
        prompt = plan_prompt().format(
            roles=", ".join(vocab.role_families()), language="Chinese" if rules.language == "zh" else "English",
            question=rules.text,
        )  # fmt: skip
        try:
            reply = chat_model.invoke(prompt)
            text = reply.content if isinstance(reply.content, str) else str(reply.content)
            return plan_from_json(text, rules)
        except PlanRejected as exc:
            log.warning("chat model plan rejected (%s); using the rules' plan", exc)
        except Exception as exc:  # the model is outside: any failure falls back to the rules
            log.warning("chat model planner failed (%s); using the rules' plan", exc)
        return rules

    return propose
