"""`CareerAssistant`: the Python API, and the LangChain runnable behind it.

The answer path is one `langchain_core` runnable: understand the question, then compute figures and
retrieve evidence in parallel, then write. A LangChain user can take `assistant.retriever` into their
own chain, or `assistant.chain` and replace its last step with any chat model.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant import errors
from assistant.config import PACKAGE_ROOT, Settings
from assistant.errors import RuntimeFailure, StoreMissingError, UserError
from assistant.plan import Plan, follow, make_plan
from assistant.planner import advise, evidence_for, figure_blocks, gloss, resolve
from assistant.schema import Answer, Figure, FilePreview
from assistant.understand import Profile, Query, stated_pay, understand
from assistant.vocab import canonical_city, find_skills, role_families, role_family
from assistant.writer import Findings, compose
from assistant.writer import label as label

if TYPE_CHECKING:
    from langchain_core.runnables import Runnable

    from assistant.corpus import Corpus
    from assistant.evaluation import EvalReport
    from assistant.retriever import HybridRetriever
    from ingest.check import CheckResult
    from ingest.report import IngestReport

log = logging.getLogger(__name__)

History = Sequence[Any]
#: What `ask(filters=...)` may narrow; "articles" in `sources` stands for the news articles.
FILTER_KEYS = ("cities", "roles", "years", "sources")
ARTICLES = "articles"
POSTINGS = "postings"
#: What `add_files(copy=True)` takes: postings tables and articles (ingest reads these).
UPLOAD_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl", ".xlsx", ".txt", ".md", ".html", ".htm", ".pdf")
#: An ingest started by `add_files` is stopped after this long (the store is then as it was).
INGEST_TIMEOUT_S = 1800
Progress = Callable[[str], None]


class _Generation:
    """One opened store generation: its corpus, the retriever over it and the chain that answers from it.
    A question runs start to end on the generation it started with."""

    def __init__(self, settings: Settings) -> None:
        # Imported here: ingest, check and the other commands that do not answer start without LangChain and
        # Chroma's client (over a second of start-up).
        from assistant.corpus import Corpus
        from assistant.retriever import HybridRetriever

        self.corpus = Corpus(settings)
        self.retriever = HybridRetriever(corpus=self.corpus, k=4)
        self.chain: Runnable[dict[str, Any], Answer] | None = None
        self.gather: Runnable[dict[str, Any], dict[str, Any]] | None = None  # the chain without its writer

    def close(self) -> None:
        self.corpus.close()


class CareerAssistant:
    """Answers questions about tech jobs from a built store, with exact figures and citations.

    It follows its store: after an ingest publishes new data (from `add_files`, the page, or the command line
    in another process) the next question is answered from it, while questions already running finish on the
    data they started with.

    Example:
        >>> ca = CareerAssistant(store="vectorstore")
        >>> ans = ca.ask("What do NLP engineers earn in Beijing?")
        >>> ans.text, ans.citations, ans.figures
    """

    #: How often a question checks whether an ingest has published new data (one small file read).
    CHECK_EVERY_S = 1.0

    def __init__(
        self,
        store: str | Path | None = None,
        settings: Settings | None = None,
        chat_model: Any = None,
        plan_with_model: bool = False,
        *,
        allow_missing: bool = False,
    ) -> None:
        """Open a store.

        Args:
            store: the store folder (default: settings, then ./vectorstore).
            settings: all other settings; `Settings.from_env()` when omitted.
            plan_with_model: with a chat model, let it propose each question's plan (validated; the rules'
                plan is used when it names anything the data does not know).
            chat_model: any LangChain chat model to phrase answers (optional); its numbers are checked
                against the findings and an answer that invents one falls back to the default writer.
            allow_missing: open even when the store has no data yet (`has_data` is False, questions raise
                StoreMissingError until `add_files` puts some in).

        Raises:
            StoreMissingError: there is no store (unless `allow_missing`).
            StoreMismatchError: the store was built with another embedding model.
        """
        settings = settings or Settings.from_env()
        if store is not None:
            settings = settings.with_(store=Path(store))
        if chat_model is None and settings.llm:
            from assistant.llm import chat_model_from_spec

            chat_model = chat_model_from_spec(settings.llm, settings.llm_max_tokens, settings.llm_timeout_s)
        self.chat_model = chat_model
        self._propose: Any = None
        if chat_model is not None and plan_with_model:
            from assistant.llm import llm_planner

            self._propose = llm_planner(chat_model)
        self.settings = settings
        self._lock = threading.Lock()
        self._retired: list[_Generation] = []
        self._checked = time.monotonic()
        self._gen: _Generation | None = None
        try:
            self._gen = self._open()
        except StoreMissingError:
            if not allow_missing:
                raise

    def _open(self) -> _Generation:
        gen = _Generation(self.settings)
        gen.gather, gen.chain = self._build_chain(gen)
        return gen

    def _current(self) -> _Generation:
        """The generation to answer from: the store's newest, checked at most once a second (one caller opens
        it, the others keep answering with the one in hand meanwhile)."""
        now = time.monotonic()
        if now - self._checked >= self.CHECK_EVERY_S and self._lock.acquire(blocking=False):
            try:
                self._checked = now
                if self._gen is None or not self._gen.corpus.is_current():
                    self._swap()
            except StoreMissingError:
                pass
            except Exception:  # a store mid-repair or damaged: keep answering from the generation in hand
                log.exception("could not open the store's new data; answering from what was open")
            finally:
                self._lock.release()
        if self._gen is None:
            raise StoreMissingError(
                f"the store {self.settings.store} has no data yet. Hint: add files (`career-assistant ingest FILES`"
                " or the page's 'Add your own data'), or `career-assistant ingest --bundled` for the bundled corpus"
            )
        return self._gen

    def _swap(self) -> None:
        """Open the newest generation; the one it replaces is closed one swap later (questions may hold it)."""
        old, self._gen = self._gen, self._open()
        for done in self._retired:
            done.close()
        self._retired = [old] if old is not None else []

    def reload(self) -> None:
        """Open the store's newest data now, instead of at the next question's check."""
        with self._lock:
            self._checked = time.monotonic()
            self._swap()

    @property
    def has_data(self) -> bool:
        """Whether there is a store to answer from (False for a new, empty one opened with `allow_missing`)."""
        try:
            self._current()
        except StoreMissingError:
            return False
        return True

    @property
    def corpus(self) -> Corpus:
        """The opened store generation (postings table, vector collections, embedder)."""
        return self._current().corpus

    @property
    def retriever(self) -> HybridRetriever:
        """The LangChain retriever over the store's passages, for use in a chain of your own."""
        return self._current().retriever

    @property
    def chain(self) -> Runnable[dict[str, Any], Answer]:
        """The answering runnable: {"question", "history", "profile", "filters"} -> Answer."""
        chain = self._current().chain
        assert chain is not None
        return chain

    @property
    def sources(self) -> tuple[str, ...]:
        """The job boards the store holds postings from (as figures name them: "Lagou", "51job", ...)."""
        return self._current().corpus.sources

    def _build_chain(
        self, gen: _Generation
    ) -> tuple[Runnable[dict[str, Any], dict[str, Any]], Runnable[dict[str, Any], Answer]]:
        """(understand then gather the findings, that followed by the writer) over one generation."""
        from langchain_core.runnables import RunnableLambda, RunnableParallel

        corpus, retriever = gen.corpus, gen.retriever
        understand_step = RunnableLambda(partial(self._understand, gen), name="understand")
        gather = RunnableParallel(
            query=RunnableLambda(lambda x: x["query"], name="query"),
            profile=RunnableLambda(lambda x: x.get("profile"), name="profile"),
            left_out=RunnableLambda(lambda x: x["left_out"], name="left_out"),
            plan=RunnableLambda(lambda x: x["plan"], name="plan"),
            resolved=RunnableLambda(lambda x: x["resolved"], name="resolved"),
            blocks=RunnableLambda(
                lambda x: [] if POSTINGS in x["left_out"] else figure_blocks(corpus, x["plan"]), name="figures"
            ),
            evidence=RunnableLambda(
                lambda x: [] if ARTICLES in x["left_out"] else evidence_for(retriever, x["plan"]), name="evidence"
            ),
            advice=RunnableLambda(
                lambda x: ([], {}) if POSTINGS in x["left_out"] else advise(corpus, x["plan"], x.get("profile")),
                name="advice",
            ),
        )
        findings = understand_step | gather
        write: Runnable[Any, Answer] = RunnableLambda(self._write, name="write")
        if self.chat_model is not None:
            write = self._writer().runnable()
        return findings, findings | write

    def _writer(self) -> Any:
        from langchain_core.runnables import RunnableLambda

        from assistant.llm import LLMWriter

        return LLMWriter(self.chat_model, RunnableLambda(self._write, name="write"))

    def _understand(self, gen: _Generation, inputs: dict[str, Any]) -> dict[str, Any]:
        corpus = gen.corpus
        previous: Query | None = None
        previous_plan: Plan | None = None
        for turn in _user_turns(inputs.get("history") or ()):
            previous = understand(turn, previous, corpus.companies)
            previous_plan = make_plan(previous, corpus.companies)
        query = understand(inputs["question"], previous, corpus.companies)
        query, left_out = _narrowed(query, inputs.get("filters"), gen.corpus.sources)
        plan = make_plan(query, corpus.companies)
        if previous_plan is not None:
            plan = follow(plan, previous_plan)
        if self._propose is not None:
            plan = self._propose(plan)
        plan, resolved = resolve(corpus, plan)
        profile = _profile(inputs.get("profile"), plan.query)
        return {"query": query, "plan": plan, "resolved": resolved, "profile": profile, "left_out": left_out}

    def plan(self, question: str, history: History | None = None) -> Plan:
        """How a question would be read: the typed plan its answer is computed from (nothing is computed)."""
        gen = self._current()
        return self._understand(gen, {"question": question, "history": history})["plan"]

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
        return self.chain.invoke(_inputs(question, history, profile, filters))

    def stream_answer(
        self,
        question: str,
        history: History | None = None,
        profile: Profile | Mapping[str, Any] | None = None,
        filters: Mapping[str, Sequence[Any]] | None = None,
    ) -> Iterator[str | Answer]:
        """Answer one question as it is written: with a chat model, its reply's text so far (a growing string,
        token by token), then always the final `Answer`. The final answer's text can differ from the last string:
        a reply with a number that is not in the data is replaced by the assistant's own answer, and
        `answer.notice` says so. Without a chat model only the Answer is yielded. Arguments as for `ask`."""
        if self.chat_model is None:
            yield self.ask(question, history, profile, filters)
            return
        inputs = _inputs(question, history, profile, filters)
        gen = self._current()
        assert gen.gather is not None
        yield from self._writer().stream(gen.gather.invoke(inputs))

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
        boards the store holds, each with its number of postings (all empty for a store with no data)."""
        from assistant import figures

        if not self.has_data:
            return {"cities": [], "roles": [], "years": [], "sources": []}
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
        """Whether the data in hand is still what the store serves; False once an ingest (from the page or the
        command line) has published newer data, until the next question (or `reload`) opens it."""
        return self._gen is not None and self._gen.corpus.is_current()

    def add_files(
        self,
        paths: Sequence[str | Path],
        columns: Mapping[str, str] | str | None = None,
        *,
        copy: bool = False,
        source: str | None = None,
        pay_period: str | None = None,
        scrape_date: str | None = None,
        encoding: str | None = None,
        timeout_s: float = INGEST_TIMEOUT_S,
    ) -> IngestReport:
        """Ingest files into this assistant's store, in a process of its own, then answer from the new data.

        Args:
            paths: postings tables (.csv .tsv .json .jsonl .xlsx) and articles (.txt .md .html .pdf).
            columns: which header holds each field, for a table in no known layout: {"title": "招聘岗位",
                "city": "工作城市", "salary_min": "最低月薪", "salary_max": "最高月薪"} (see `preview_file`).
            copy: copy the files into the store's `uploads/` folder under a safe name first and ingest the
                copies (for files that will not stay where they are, e.g. a web upload); a copy whose file
                fails is taken out again (a replaced one gets its previous version back), and files of a type
                ingest does not read, or over the size limit, are refused before anything is copied.
            source, pay_period, scrape_date, encoding: as `career-assistant ingest` takes them.
            timeout_s: the ingest is stopped after this long (the store is then as it was).

        Returns:
            The ingest report: each file's outcome (refused files included, as failed) and the store's totals.

        Raises:
            UserError: an option is not valid (an unknown field in `columns`, a bad date, ...).
            StoreLockedError: another process is writing the store.
            RuntimeFailure: the ingest process crashed or was stopped (the store is as it was).
        """
        given = [Path(p) for p in paths]
        options: dict[str, Any] = {"source": source, "pay_period": pay_period, "scrape_date": scrape_date,
                                   "encoding": encoding}  # fmt: skip
        if not copy:
            report = ingest_files(given, self.settings, columns=columns, isolated=True, timeout_s=timeout_s,
                                  **options)  # fmt: skip
        else:
            report = self._add_copies(given, columns, options, timeout_s)
        if report.committed:
            self.reload()
        return report

    def _add_copies(
        self, given: Sequence[Path], columns: Mapping[str, str] | str | None, options: dict[str, Any], timeout_s: float
    ) -> IngestReport:
        from ingest.report import FileResult, IngestReport

        folder = Path(self.settings.store) / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        limit = self.settings.max_file_mb * 1e6
        refused: list[FileResult] = []
        placed: dict[Path, bytes | None] = {}  # target -> its previous bytes (None: new file)
        for upload in given:
            name = upload_name(upload.name)
            size = upload.stat().st_size if upload.is_file() else -1
            why = ""
            target = folder / name
            if not name.lower().endswith(UPLOAD_SUFFIXES):
                why = ("unknown file type; postings: .csv .tsv .json .jsonl .xlsx; "
                       "articles: .txt .md .html .htm .pdf")  # fmt: skip
            elif size < 0:
                why = "not a readable file"
            elif size > limit:
                why = f"{size / 1e6:.3g} MB is over the {self.settings.max_file_mb:g} MB limit"
            elif not target.resolve().is_relative_to(folder.resolve()):
                why = "not a usable file name"
            elif target in placed:
                why = "another file in this upload has the same name"
            if why:
                refused.append(FileResult(display=upload.name, kind="", status="failed", error=why))
                continue
            placed[target] = target.read_bytes() if target.is_file() else None
            shutil.copyfile(upload, target)
        report = IngestReport(store=str(self.settings.store))
        if placed:
            try:
                report = ingest_files(list(placed), self.settings, columns=columns, isolated=True,
                                      timeout_s=timeout_s, **options)  # fmt: skip
            except BaseException:
                _put_back(placed, set(placed))
                raise
            _put_back(placed, {t for t in placed if Path(t).name in {Path(f.display).name for f in report.failed}})
        report.files = refused + report.files
        return report

    def close(self) -> None:
        """Close the store (and the generations questions may still have held)."""
        with self._lock:
            for gen in [*self._retired, self._gen]:
                if gen is not None:
                    gen.close()
            self._retired, self._gen = [], None

    def __enter__(self) -> CareerAssistant:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_UNSAFE_NAME = re.compile(r"[^\w.\-]+", flags=re.UNICODE)


def upload_name(original: str) -> str:
    """A file name that stays inside the uploads folder: the last path part, word characters, no leading dot."""
    base = re.split(r"[\\/]", original)[-1]
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = _UNSAFE_NAME.sub("_", stem).strip("._-")[:100] or "upload"
    suffix = _UNSAFE_NAME.sub("", suffix).lower()[:10]
    return f"{stem}.{suffix}" if suffix else stem


def _put_back(placed: Mapping[Path, bytes | None], failed: set[Path]) -> None:
    """Take failed copies out of the uploads folder again (a replaced file gets its previous bytes back)."""
    for target in failed:
        previous = placed[target]
        if previous is None:
            target.unlink(missing_ok=True)
        else:
            target.write_bytes(previous)


# ---------------------------------------------------------------- the data side: ingest and check


def ingest_files(
    paths: Sequence[str | Path],
    settings: Settings | None = None,
    *,
    columns: Mapping[str, str] | str | None = None,
    columns_file: str | Path | None = None,
    source: str | None = None,
    scrape_date: str | None = None,
    encoding: str | None = None,
    pay_period: str | None = None,
    follow_symlinks: bool = False,
    prune: bool = False,
    rebuild: bool = False,
    progress: Progress | None = None,
    isolated: bool = False,
    timeout_s: float = INGEST_TIMEOUT_S,
) -> IngestReport:
    """Bring the store at `settings.store` in line with these files (what `career-assistant ingest` does).

    Args:
        paths: files and folders (read recursively) of postings and articles.
        columns: field -> header for tables in no known layout ("title=职位名称,city=城市" or a mapping);
            `columns_file` a JSON file of the same.
        source, scrape_date, encoding, pay_period: the board, the day the rows were collected (YYYY-MM-DD), the
            text encoding of every file, and what plain-number pay is per (month, year or day).
        follow_symlinks, prune, rebuild: read through symbolic links; drop records of files gone from the
            folders given; start the store afresh.
        progress: called with one line per step (not in an isolated run).
        isolated: run in a separate process, stopped after `timeout_s` (a server's way: a file that crashes a
            parser cannot take the server down).

    Returns:
        The report; `report.ok` is False when a file failed (the others still went in).

    Raises:
        UserError: an option is not valid; the store is locked by another writer or built with another model.
        DiskFullError: the disk filled up (the store is as it was).
        RuntimeFailure: an isolated run crashed or timed out (the store is as it was).
    """
    from ingest.pipeline import IngestOptions, ingest

    settings = settings or Settings.from_env()
    options = IngestOptions.given(
        columns, Path(columns_file) if columns_file else None, source=source, scrape_date=scrape_date,
        encoding=encoding, pay_period=pay_period, follow_symlinks=follow_symlinks, prune=prune, rebuild=rebuild,
    )  # fmt: skip
    given = [Path(p) for p in paths]
    if not isolated:
        return ingest(given, settings, options, progress=progress)
    return _ingest_in_child(given, settings, options, timeout_s)


def _ingest_in_child(paths: Sequence[Path], settings: Settings, options: Any, timeout_s: float) -> IngestReport:
    from dataclasses import asdict

    from ingest.report import IngestReport

    request = json.dumps({"paths": [str(p) for p in paths], "options": asdict(options)}, ensure_ascii=False)
    root = str(PACKAGE_ROOT.parent)
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, **settings.environ(), "PYTHONPATH": f"{root}{os.pathsep}{path}" if path else root}
    try:
        run = subprocess.run([sys.executable, "-m", "ingest.worker"], input=request, capture_output=True, text=True,
                             timeout=timeout_s, env=env)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise RuntimeFailure(f"the ingest took over {timeout_s:g} s and was stopped; the store is as it was") from None
    try:
        outcome = json.loads(run.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        last = (run.stderr.strip().splitlines() or [f"exit status {run.returncode}"])[-1]
        raise RuntimeFailure(f"the ingest process failed ({last[:300]}); the store is as it was") from None
    if "error" in outcome:
        raise _error_of(str(outcome.get("kind")), str(outcome["error"]))
    return IngestReport.from_state(outcome["report"])


def _error_of(kind: str, message: str) -> errors.CareerAssistantError:
    """The error a child process reported, as the same class (its message as it was worded there)."""
    cls = getattr(errors, kind, None)
    if not (isinstance(cls, type) and issubclass(cls, errors.CareerAssistantError)):
        return RuntimeFailure(message)
    error = cls.__new__(cls)
    Exception.__init__(error, message)  # some classes word their own message from other arguments
    return error


def preview_file(path: str | Path, settings: Settings | None = None) -> FilePreview:
    """A postings file's headers, first rows and a suggested column mapping (by a known board's layout, header
    names in English and Chinese, then the values: dates, pay shapes, city names, ...) to check and correct
    before `add_files(..., columns=preview.suggested)`. A file that cannot be read gets a preview whose `error`
    says why."""
    from ingest.preview import preview_file as preview

    return preview(Path(path), settings or Settings.from_env())


def run_eval(questions: str | Path = "eval/questions.jsonl", settings: Settings | None = None) -> EvalReport:
    """Ask every question of an eval set (with its history) and grade the answers against its expected figures
    (`expected.json` beside the questions); `career-assistant eval` prints it."""
    from assistant.evaluation import run_eval as run

    return run(questions=questions, settings=settings)


def check_store(settings: Settings | None = None) -> CheckResult:
    """Whether the store is whole: the postings table and the vector index agree with each other and with the
    manifest (read by a separate process, so a damaged index cannot crash the caller). Changes nothing."""
    from ingest.check import check_store as check

    return check(settings or Settings.from_env())


def repair_store(settings: Settings | None = None, progress: Progress | None = None) -> list[IngestReport]:
    """Rebuild the store from the files its manifest lists, each read as it was, into a new generation.

    Raises:
        UserError: there is no readable manifest, or none of its files exists any more.
    """
    from ingest.check import repair_store as repair

    return repair(settings or Settings.from_env(), progress=progress)


def _inputs(question: str, history: History | None, profile: Any, filters: Any) -> dict[str, Any]:
    """What the chain takes for one question; an empty question is refused before anything runs."""
    if not question or not question.strip():
        raise UserError("empty question: ask about skills, pay, cities or moving into AI roles")
    return {"question": question, "history": history, "profile": profile, "filters": filters}


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
