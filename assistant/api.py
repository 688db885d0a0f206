"""`CareerAssistant`: the Python API, and the LangChain runnable behind it.

The answer path is one `langchain_core` runnable: understand the question, then compute figures and
retrieve evidence in parallel, then write. A LangChain user can take `assistant.retriever` into their
own chain, or `assistant.chain` and replace its last step with any chat model.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import Any

from langchain_core.runnables import Runnable, RunnableLambda, RunnableParallel

from assistant.config import Settings
from assistant.corpus import Corpus
from assistant.errors import UserError
from assistant.plan import Plan, follow, make_plan
from assistant.planner import advise, evidence_for, figure_blocks, gloss, resolve
from assistant.retrieval import HybridRetriever
from assistant.schema import Answer, Figure
from assistant.understand import Profile, Query, stated_pay, understand
from assistant.vocab import canonical_city, find_skills, role_families, role_family
from assistant.writer import Findings, compose

History = Sequence[Any]
#: What `ask(filters=...)` may narrow; "articles" in `sources` stands for the news articles.
FILTER_KEYS = ("cities", "roles", "years", "sources")
ARTICLES = "articles"
POSTINGS = "postings"


class CareerAssistant:
    """Answers questions about tech jobs from a built store, with exact figures and citations.

    Example:
        >>> ca = CareerAssistant(store="vectorstore")
        >>> ans = ca.ask("What do NLP engineers earn in Beijing?")
        >>> ans.text, ans.citations, ans.figures
    """

    def __init__(
        self,
        store: str | Path | None = None,
        settings: Settings | None = None,
        chat_model: Any = None,
        plan_with_model: bool = False,
    ) -> None:
        """Open a store.

        Args:
            store: the store folder (default: settings, then ./vectorstore).
            settings: all other settings; `Settings.from_env()` when omitted.
            plan_with_model: with a chat model, let it propose each question's plan (validated; the rules'
                plan is used when it names anything the data does not know).
            chat_model: any LangChain chat model to phrase answers (optional); its numbers are checked
                against the findings and an answer that invents one falls back to the default writer.
        """
        settings = settings or Settings.from_env()
        self.chat_model = chat_model
        self._propose: Any = None
        if chat_model is not None and plan_with_model:
            from assistant.llm import llm_planner

            self._propose = llm_planner(chat_model)
        if store is not None:
            settings = settings.with_(store=Path(store))
        self.settings = settings
        self.corpus = Corpus(settings)
        self.retriever = HybridRetriever(corpus=self.corpus, k=4)
        self.chain: Runnable[dict[str, Any], Answer] = self._build_chain()

    @cached_property
    def sources(self) -> tuple[str, ...]:
        """The job boards the store holds postings from (as figures name them: "Lagou", "51job", ...)."""
        return tuple(r[0] for r in self.corpus.query("SELECT DISTINCT source FROM postings ORDER BY 1"))

    def _build_chain(self) -> Runnable[dict[str, Any], Answer]:
        understand_step = RunnableLambda(self._understand, name="understand")
        gather = RunnableParallel(
            query=RunnableLambda(lambda x: x["query"], name="query"),
            profile=RunnableLambda(lambda x: x.get("profile"), name="profile"),
            left_out=RunnableLambda(lambda x: x["left_out"], name="left_out"),
            plan=RunnableLambda(lambda x: x["plan"], name="plan"),
            resolved=RunnableLambda(lambda x: x["resolved"], name="resolved"),
            blocks=RunnableLambda(
                lambda x: [] if POSTINGS in x["left_out"] else figure_blocks(self.corpus, x["plan"]), name="figures"
            ),
            evidence=RunnableLambda(
                lambda x: [] if ARTICLES in x["left_out"] else evidence_for(self.retriever, x["plan"]), name="evidence"
            ),
            advice=RunnableLambda(
                lambda x: ([], {}) if POSTINGS in x["left_out"] else advise(self.corpus, x["plan"], x.get("profile")),
                name="advice",
            ),
        )
        write: Runnable[Any, Answer] = RunnableLambda(self._write, name="write")
        if self.chat_model is not None:
            from assistant.llm import llm_writer

            write = llm_writer(self.chat_model, write)
        return understand_step | gather | write

    def _understand(self, inputs: dict[str, Any]) -> dict[str, Any]:
        previous: Query | None = None
        previous_plan: Plan | None = None
        for turn in _user_turns(inputs.get("history") or ()):
            previous = understand(turn, previous, self.corpus.companies)
            previous_plan = make_plan(previous, self.corpus.companies)
        query = understand(inputs["question"], previous, self.corpus.companies)
        query, left_out = _narrowed(query, inputs.get("filters"), self.sources)
        plan = make_plan(query, self.corpus.companies)
        if previous_plan is not None:
            plan = follow(plan, previous_plan)
        if self._propose is not None:
            plan = self._propose(plan)
        plan, resolved = resolve(self.corpus, plan)
        profile = _profile(inputs.get("profile"), plan.query)
        return {"query": query, "plan": plan, "resolved": resolved, "profile": profile, "left_out": left_out}

    def plan(self, question: str, history: History | None = None) -> Plan:
        """How a question would be read: the typed plan its answer is computed from (nothing is computed)."""
        return self._understand({"question": question, "history": history})["plan"]

    @staticmethod
    def _write(parts: dict[str, Any]) -> Answer:
        query: Query = parts["query"]
        rows, profile_text = parts["advice"]
        plan: Plan = parts["plan"]
        findings = Findings(
            language=query.language, intent=plan.intent, blocks=parts["blocks"], evidence=parts["evidence"],
            advice=rows, profile=profile_text, question=f"{query.text} {gloss(query)}", left_out=parts["left_out"],
            plan=plan, resolved=parts["resolved"],
        )  # fmt: skip
        return compose(findings)

    def ask(
        self,
        question: str,
        history: History | None = None,
        profile: Profile | Mapping[str, Any] | None = None,
        filters: Mapping[str, Sequence[Any]] | None = None,
    ) -> Answer:
        """Answer one question.

        Args:
            question: in English or Chinese.
            history: earlier turns, as strings or chat messages ({"role": "user", "content": ...});
                a follow-up ("and in Shenzhen?") inherits the last question's filters.
            profile: the asker's current role, skills, city and monthly pay, for advice:
                {"role": "Java backend developer", "skills": "Java, Spring", "city": "Shanghai", "monthly_pay": 15000}.
            filters: standing restrictions, e.g. {"cities": ["Beijing"], "roles": ["nlp"], "years": [2024],
                "sources": ["zhaopin", "articles"]}. They fill in what the question leaves open (a city named in
                the question wins over the city filter); without "articles" in `sources` no article is cited.

        Returns:
            An Answer with text, citations, figures, language and, for advice, the skill gap per target role.

        Raises:
            UserError: an empty question, or a filter key or value this assistant does not know.
        """
        if not question or not question.strip():
            raise UserError("empty question: ask about skills, pay, cities or moving into AI roles")
        return self.chain.invoke({"question": question, "history": history, "profile": profile, "filters": filters})

    def stream(
        self,
        question: str,
        history: History | None = None,
        profile: Profile | Mapping[str, Any] | None = None,
        filters: Mapping[str, Sequence[Any]] | None = None,
    ) -> Iterator[str]:
        """The answer's text in pieces (a sentence or line at a time); join them for the whole text."""
        answer = self.ask(question, history, profile, filters)
        piece = ""
        # Split after line ends and sentence ends, keeping every character: "".join(pieces) == answer.text.
        for part in re.split(r"(\n|(?<=[.。;；])[ \t]+)", answer.text):
            piece += part
            if part and part.isspace():
                yield piece
                piece = ""
        if piece:
            yield piece

    def facets(self, min_city_postings: int = 1) -> dict[str, list[tuple[Any, int]]]:
        """What filters can choose from: cities (with at least `min_city_postings`), role families, years and
        boards the store holds, each with its number of postings."""
        from assistant import figures

        return figures.facets(self.corpus, min_city_postings)

    def rows_behind(self, figure: Figure) -> tuple[list[str], list[tuple[Any, ...]]]:
        """The postings a figure was computed from (header, rows), to show or download."""
        from assistant import figures

        return figures.rows_behind(self.corpus, figure)

    def stats(self) -> dict[str, Any]:
        """What the store holds: postings and the rows they came from, by board (dates, share with pay and
        skills, near-duplicates), top cities, role families and skills, articles; and the store's model, files
        and last update. The `career-assistant stats` command prints it."""
        return self.corpus.stats()

    def is_current(self) -> bool:
        """Whether the store still serves what this assistant opened; False once an ingest (from the page or the
        command line) has published newer data. Open a new `CareerAssistant` to read it."""
        return self.corpus.is_current()

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


def _narrowed(
    query: Query, filters: Mapping[str, Sequence[Any]] | None, known_sources: Sequence[str]
) -> tuple[Query, frozenset[str]]:
    """The query with the standing filters filled in where it names nothing, and the kinds of evidence the
    source filter leaves out ("postings" when it names no job board, "articles" when it does not name them)."""
    if not filters:
        return query, frozenset()
    if not isinstance(filters, Mapping):
        raise UserError(f"filters must be a mapping such as {{'cities': ['Beijing']}}, got {type(filters).__name__}")
    unknown = sorted(set(filters) - set(FILTER_KEYS))
    if unknown:
        raise UserError(f"unknown filter {', '.join(map(repr, unknown))}; known: {', '.join(FILTER_KEYS)}")
    values = {key: _values(key, filters.get(key)) for key in FILTER_KEYS}
    cities = []
    for name in values["cities"]:
        city = canonical_city(str(name))
        if city is None:
            raise UserError(f"unknown city {name!r} in filters")
        cities.append(city.name)
    roles = [str(r) for r in values["roles"]]
    bad_roles = [r for r in roles if r not in role_families()]
    if bad_roles:
        raise UserError(f"unknown role family {bad_roles[0]!r} in filters; known: {', '.join(role_families())}")
    try:
        years = [int(y) for y in values["years"]]
    except (TypeError, ValueError):
        raise UserError(f"years in filters must be numbers, got {list(values['years'])!r}") from None
    by_name = {s.lower(): s for s in [*known_sources, ARTICLES]}
    sources = [by_name.get(str(s).lower(), "") for s in values["sources"]]
    if "" in sources:
        bad = next(s for s in values["sources"] if str(s).lower() not in by_name)
        raise UserError(f"unknown source {bad!r} in filters; known: {', '.join(by_name.values())}")
    boards = tuple(s for s in sources if s != ARTICLES)
    changes: dict[str, Any] = {}
    for name, given in (("cities", cities), ("roles", roles), ("years", years)):
        if given and not getattr(query, name):
            changes[name] = tuple(given)
    if boards and not query.sources:
        changes["sources"] = boards
    left_out = set()
    if sources and not boards and not query.sources:
        left_out.add(POSTINGS)
    if sources and ARTICLES not in sources:
        left_out.add(ARTICLES)
    return (replace(query, **changes) if changes else query), frozenset(left_out)


def _values(key: str, given: Any) -> Sequence[Any]:
    if given is None:
        return ()
    if isinstance(given, str | int):
        return (given,)
    if not isinstance(given, Sequence):
        raise UserError(f"filter {key!r} must be a list, got {type(given).__name__}")
    return given


def _profile(given: Profile | Mapping[str, Any] | None, query: Query) -> Profile | None:
    """The asker's profile: what they filled in, completed by what the question says about them."""
    if isinstance(given, Profile):
        return given
    stated = query.profile or Profile()
    if not isinstance(given, Mapping) or not any(given.values()):
        return query.profile
    city = canonical_city(str(given.get("city") or ""))
    skills: Any = given.get("skills") or ()
    if isinstance(skills, str):
        skills = find_skills(skills) or tuple(s.strip().lower() for s in re.split(r"[,，、;/]", skills) if s.strip())
    title = given.get("role") or given.get("title")
    pay = given.get("monthly_pay") or given.get("pay")
    monthly = _monthly_pay(pay)
    return Profile(
        title=str(title) if title else stated.title, role=role_family(str(title)) if title else stated.role,
        skills=tuple(dict.fromkeys([*skills, *stated.skills])), city=city.name if city else stated.city,
        monthly_pay=monthly or stated.monthly_pay,
    )  # fmt: skip


def _monthly_pay(given: Any) -> float | None:
    """Monthly pay in CNY from a number or text such as "15000", "15k", "1.5万"; None when not given."""
    if given is None or (isinstance(given, str) and not given.strip()):
        return None
    if isinstance(given, int | float) and not isinstance(given, bool):
        if given < 0:
            raise UserError(f"monthly pay must not be negative, got {given!r}")
        return float(given) or None
    value = stated_pay(str(given))
    if value is None:
        raise UserError(f"monthly pay must be CNY a month such as 15000, 15k or 1.5万, got {given!r}")
    return value
