"""The chat UI and its HTTP API: a thin Gradio shell over `CareerAssistant`.

The only module that imports gradio. Handlers are a few lines around `assistant.ask`; what is here
besides them is display: the sources panel (HTML, every citation a `<details>` the answer's [n] markers
open), the figures as a bar chart, the rows behind a figure with a spreadsheet-safe CSV, the profile's
skill gap, the filters, what the store holds, and uploads of a person's own files into the store.
"""

from __future__ import annotations

import csv
import html
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from assistant.api import ARTICLES, CareerAssistant
from assistant.config import Settings
from assistant.errors import CareerAssistantError
from assistant.schema import Answer, Figure
from assistant.vocab import canonical_city, role_label
from assistant.writer import label as value_label

log = logging.getLogger(__name__)

EXAMPLES = [
    "What do NLP engineers earn in Beijing?",
    "Which cities have the most AI jobs?",
    "I'm a Java backend developer in Shanghai on 15k a month. How do I move into machine learning?",
    "北京和上海的大模型岗位哪个薪资高？",
    "深圳大模型岗位要求哪些技能？",
    "为什么中国缺少人工智能人才？",
]
ADVICE_QUESTION = {
    "en": "How can I move into AI roles from where I am now?",
    "zh": "我想转到人工智能岗位，应该怎么做？",
}

INTRO = """\
## Career assistant · 职业助手
Which skills are in demand, where, at what pay, and how to move toward AI roles, answered from job postings
and news articles. Every number cites the postings it was computed from: click a [n] to read the source, pick a
figure to see the postings behind it. Ask in English or 中文; a follow-up such as *"and in Shenzhen?"* keeps the
last question's filters."""

#: Safe serving defaults: the queue bounds memory and CPU per process.
CONCURRENCY = 4
QUEUE_SIZE = 64
QUOTE_CHARS = 600
#: Rows shown in the page for one figure (the CSV download has all of them).
ROWS_SHOWN = 500
#: Cities offered as filters: those with at least this many postings.
FILTER_CITY_MIN = 20
UPLOAD_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl", ".xlsx", ".txt", ".md", ".html", ".htm", ".pdf")
UPLOAD_TIMEOUT_S = 1800
#: CSV downloads (ours and Gradio's cached copies) are deleted after this many seconds.
KEEP_FILES_S = 3600


class Live:
    """The assistant the page answers with. When the store gets new data (an upload from the page, or an
    ingest from the command line into the same store) it is replaced, not changed: a question already being
    answered finishes on the store generation it started with, and the next one sees the new data."""

    #: How often a question checks whether an ingest has published new data (one small file read).
    CHECK_EVERY_S = 1.0

    def __init__(self, assistant: CareerAssistant) -> None:
        self._assistant = assistant
        self._retired: list[CareerAssistant] = []
        self._lock = threading.Lock()
        self._checked = time.monotonic()

    @property
    def assistant(self) -> CareerAssistant:
        """The assistant for the store's newest data (checked at most once a second; one caller opens it,
        the others keep answering with the one in hand meanwhile)."""
        now = time.monotonic()
        if now - self._checked >= self.CHECK_EVERY_S and self._lock.acquire(blocking=False):
            try:
                self._checked = now
                if not self._assistant.is_current():
                    self._swap()
            except Exception:  # a store mid-repair or damaged: keep answering from the generation in hand
                log.exception("could not open the store's new data; answering from what was open")
            finally:
                self._lock.release()
        return self._assistant

    def reload(self) -> None:
        """Open the store's newest generation; the previous assistant is closed one reload later."""
        with self._lock:
            self._swap()

    def _swap(self) -> None:
        old = self._assistant
        self._assistant = CareerAssistant(settings=old.settings, chat_model=old.chat_model)
        for done in self._retired:
            done.close()
        self._retired = [old]

    def close(self) -> None:
        with self._lock:
            for done in [*self._retired, self._assistant]:
                done.close()
            self._retired = []


def build_app(assistant: CareerAssistant | Live, uploads: bool = True) -> gr.Blocks:
    """The chat page and the `/ask` and `/chat` endpoints over one opened assistant.

    Args:
        assistant: answers every question; shared by all sessions (its store reads are thread-safe).
        uploads: offer "Add your own data" (files go into the assistant's store).

    Returns:
        The Blocks app, not yet launched (see `serve`).
    """
    live = assistant if isinstance(assistant, Live) else Live(assistant)
    rows_dir = Path(tempfile.mkdtemp(prefix="career-assistant-rows-"))

    def respond(question: str, history: list[dict[str, Any]] | None, cited: list[list[dict[str, str]]] | None,
                role: str = "", skills: str = "", city: str = "", pay: str | float | None = None,
                cities: Sequence[str] = (), roles: Sequence[str] = (), years: Sequence[str] = (),
                sources: Sequence[str] = ()) -> Iterator[tuple[Any, ...]]:  # fmt: skip
        """Stream one answer into the chat, then show its sources, chart, figures and the asker's gap."""
        history, cited = list(history or []), list(cited or [])
        if not question or not question.strip():
            yield "", history, cited, *(gr.skip(),) * 5
            return
        # The chat holds messages escaped for display (chat_text); the assistant reads them as written.
        earlier = [{**turn, "content": as_written(str(turn.get("content", "")))} for turn in history]
        turns = [*history, {"role": "user", "content": chat_text(question)}]
        profile = {"role": role, "skills": skills, "city": city, "monthly_pay": pay}
        filters = _chosen_filters(live.assistant, cities, roles, years, sources)
        try:
            answer = live.assistant.ask(question, history=earlier, profile=profile, filters=filters)
        except CareerAssistantError as exc:
            cited.append([])
            chat = [*turns, {"role": "assistant", "content": chat_text(f"⚠️ {exc}")}]
            yield "", chat, cited, sources_html(cited), *(gr.skip(),) * 4
            return
        for text in _revealed(answer.text):
            yield "", [*turns, {"role": "assistant", "content": chat_text(text)}], cited, *(gr.skip(),) * 5
        cited.append([asdict(c) for c in answer.citations])
        picked = figure_choices(answer)
        yield (
            "", [*turns, {"role": "assistant", "content": chat_text(answer.text)}], cited, sources_html(cited),
            chart_update(answer), gr.Dropdown(choices=picked, value=None, visible=bool(picked)),
            [asdict(f) for f in _pickable(answer)], gap_update(answer),
        )  # fmt: skip

    def show_rows(index: int | None, figures: list[dict[str, Any]]) -> tuple[Any, Any, Any]:
        """The postings behind the chosen figure: a table in the page and the whole list as CSV."""
        if index is None or not figures or not 0 <= int(index) < len(figures):
            return gr.Dataframe(visible=False), gr.DownloadButton(visible=False), gr.Markdown(visible=False)
        figure = Figure.from_dict(figures[int(index)])
        header, rows = live.assistant.rows_behind(figure)
        _prune(rows_dir, KEEP_FILES_S)
        path = write_csv(rows_dir / f"rows-{time.time_ns()}-{_slug(figure)}.csv", header, rows)
        shown = pd.DataFrame([_display_row(r) for r in rows[:ROWS_SHOWN]], columns=header)
        more = f"; the newest {ROWS_SHOWN} are shown, the CSV has all" if len(rows) > ROWS_SHOWN else ""
        caption = f"**{len(rows):,} postings** behind *{_md(figure_label(figure))}*{more}."
        return (gr.Dataframe(value=shown, visible=True), gr.DownloadButton(value=str(path), visible=True),
                gr.Markdown(caption, visible=True))  # fmt: skip

    def advise(role: str, skills: str) -> str:
        """The question the "Advise me" button asks, in the language the profile is written in."""
        chinese = any("\u4e00" <= ch <= "\u9fff" for ch in f"{role}{skills}")
        return ADVICE_QUESTION["zh" if chinese else "en"]

    def add_files(files: list[str] | None) -> tuple[str, Any, Any, Any, Any]:
        """Copy uploaded files into the store's uploads folder and ingest them in a separate process."""
        message = add_uploads(live, [Path(f) for f in files or []])
        choices = filter_choices(live.assistant)
        return (message, store_markdown(live.assistant), gr.Dropdown(choices=choices["cities"]),
                gr.CheckboxGroup(choices=choices["years"]), gr.CheckboxGroup(choices=choices["sources"]))  # fmt: skip

    def ask(question: str) -> dict[str, Any]:
        """Answer one question (English or Chinese); the same JSON as `career-assistant ask --json`."""
        return chat_api(question)

    def chat_api(question: str, history: list[Any] | None = None, profile: dict[str, Any] | None = None,
                 filters: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
        """Answer a question in a conversation: history (earlier turns), profile {"role", "skills", "city",
        "monthly_pay"} and filters {"cities", "roles", "years", "sources"}, as in the Python API."""
        try:
            return live.assistant.ask(question, history=history, profile=profile, filters=filters).to_dict()
        except CareerAssistantError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    choices = filter_choices(live.assistant)
    # Gradio's copies of uploads and downloads are deleted after an hour too.
    keep = (KEEP_FILES_S, KEEP_FILES_S)
    with gr.Blocks(title="Career assistant", analytics_enabled=False, delete_cache=keep) as demo:
        gr.Markdown(INTRO)
        cited = gr.State([])
        figures = gr.State([])
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=250):
                with gr.Accordion("Your profile · 个人情况", open=True, elem_id="profile"):
                    role = gr.Textbox(label="Current role · 当前岗位", placeholder="e.g. Java backend developer",
                                      elem_id="profile-role", max_length=200)  # fmt: skip
                    skills = gr.Textbox(label="Skills · 技能", placeholder="e.g. Java, Spring, MySQL",
                                        elem_id="profile-skills", max_length=500)  # fmt: skip
                    city = gr.Textbox(label="City · 城市", placeholder="e.g. Shanghai / 上海", elem_id="profile-city",
                                      max_length=50)  # fmt: skip
                    pay = gr.Textbox(label="Monthly pay, CNY · 月薪", placeholder="e.g. 15000, 15k, 1.5万",
                                     elem_id="profile-pay", max_length=20)  # fmt: skip
                    advise_btn = gr.Button("Advise me · 给我建议", elem_id="advise", variant="primary", size="sm")
                with gr.Accordion("Filters · 筛选", open=False, elem_id="filters"):
                    gr.Markdown("Narrow figures and evidence. A city or role named in the question wins.")
                    f_cities = gr.Dropdown(choices["cities"], multiselect=True, label="City · 城市", elem_id="f-city")
                    f_roles = gr.Dropdown(choices["roles"], multiselect=True, label="Role family · 岗位类别",
                                          elem_id="f-role")  # fmt: skip
                    f_years = gr.CheckboxGroup(choices["years"], label="Period · 时间", elem_id="f-year")
                    f_sources = gr.CheckboxGroup(choices["sources"], label="Source · 来源", elem_id="f-source")
            with gr.Column(scale=3):
                chat = gr.Chatbot(
                    label="Chat", elem_id="chat", height=600, feedback_options=None, buttons=["copy", "copy_all"],
                    latex_delimiters=[],
                    placeholder="Ask about skills in demand, pay by city, or moving into AI roles.",
                )  # fmt: skip
                question = gr.Textbox(
                    show_label=False, elem_id="question", submit_btn="Ask", autofocus=True, max_length=2000,
                    placeholder="e.g. What do NLP engineers earn in Beijing? · 北京大模型岗位薪资多少？",
                )  # fmt: skip
                clear = gr.Button("Clear chat", elem_id="clear", size="sm", variant="secondary")
                gr.Examples(EXAMPLES, inputs=question, label="Try one · 试试这些")
                with gr.Accordion("What the store holds · 数据概况", open=False, elem_id="store-panel"):
                    store_md = gr.Markdown(store_markdown(live.assistant), elem_id="store")
                if uploads:
                    with gr.Accordion("Add your own data · 上传数据", open=False, elem_id="upload-panel"):
                        gr.Markdown(UPLOAD_HELP.format(mb=f"{live.assistant.settings.max_file_mb:g}"))
                        files = gr.File(file_count="multiple", file_types=list(UPLOAD_SUFFIXES), elem_id="upload",
                                        label="Postings or articles")  # fmt: skip
                        add_btn = gr.Button("Add to my store · 加入数据", elem_id="add", size="sm")
                        upload_report = gr.Markdown(elem_id="upload-report")
            with gr.Column(scale=2):
                gap = gr.Markdown(visible=False, elem_id="gap", container=True)
                chart = gr.BarPlot(
                    value=None, x="label", y="value", y_lim=[0, None], sort=None, elem_id="chart",
                    label="Figures", visible=False, height=330,
                )  # fmt: skip
                sources = gr.HTML(sources_html([]), elem_id="sources", container=True, padding=True)
                pick = gr.Dropdown(
                    [], label="Rows behind a figure · 数据明细", elem_id="figure-pick", visible=False, type="value",
                    info="Pick a figure to see the postings it was computed from.",
                )  # fmt: skip
                rows_caption = gr.Markdown(visible=False, elem_id="rows-caption")
                rows = gr.Dataframe(visible=False, interactive=False, elem_id="rows", max_height=320, wrap=False)
                rows_csv = gr.DownloadButton("Download CSV", visible=False, elem_id="rows-csv", size="sm")

        answer_inputs = [question, chat, cited, role, skills, city, pay, f_cities, f_roles, f_years, f_sources]
        answer_outputs = [question, chat, cited, sources, chart, pick, figures, gap]
        question.submit(respond, answer_inputs, answer_outputs, api_visibility="private", concurrency_id="assistant")
        advise_btn.click(advise, [role, skills], question, api_visibility="private", queue=False).then(
            respond, answer_inputs, answer_outputs, api_visibility="private", concurrency_id="assistant"
        )
        pick.change(show_rows, [pick, figures], [rows, rows_csv, rows_caption], api_visibility="private")
        reset = [chat, cited, sources, chart, pick, figures, gap, rows, rows_csv, rows_caption]
        for event in (clear.click, chat.clear):
            event(_reset, None, reset, api_visibility="private", queue=False)
        if uploads:
            add_btn.click(
                add_files, files, [upload_report, store_md, f_cities, f_years, f_sources], api_visibility="private",
                concurrency_id="upload", concurrency_limit=1,
            ).then(lambda: None, None, files, api_visibility="private", queue=False)  # fmt: skip
        gr.api(ask, api_name="ask", concurrency_id="assistant")
        gr.api(chat_api, api_name="chat", concurrency_id="assistant")
    return demo


def _reset() -> tuple[Any, ...]:
    hidden = gr.update(visible=False)
    return ([], [], sources_html([]), gr.BarPlot(value=None, visible=False),
            gr.Dropdown(choices=[], value=None, visible=False), [], hidden, hidden, hidden, hidden)  # fmt: skip


def serve(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 7860,
    auth: tuple[str, str] | None = None,
    *,
    uploads: bool = True,
    block: bool = True,
    concurrency: int = CONCURRENCY,
    queue_size: int = QUEUE_SIZE,
) -> gr.Blocks:
    """Open the store and serve the UI with safe defaults (local only, no share link, bounded queue).

    Args:
        settings: which store to answer from.
        host: the interface to bind; 127.0.0.1 keeps the page on this machine.
        port: the port to listen on.
        auth: (user, password) to require a login, from `--auth USER:PASS`.
        uploads: let visitors add files to the store (`--no-uploads` turns it off).
        block: wait until interrupted (the CLI); False returns at once with the server running (tests).
        concurrency: questions answered at once; the others wait in the queue.
        queue_size: waiting requests beyond which a visitor is told the app is busy.

    Returns:
        The running app; call `.close()` on it when `block` is False.

    Raises:
        UserError: the store is missing or was built with another model.
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    live = Live(CareerAssistant(settings=settings))
    if host not in ("127.0.0.1", "localhost", "::1") and auth is None:
        log.warning("serving on %s without --auth: anyone who can reach this port can use the page", host)
    demo = build_app(live, uploads=uploads)
    demo.queue(default_concurrency_limit=concurrency, max_size=queue_size)
    try:
        demo.launch(
            server_name=host, server_port=port, auth=auth, share=False, inbrowser=False,
            prevent_thread_lock=True, quiet=True, show_error=False,
            max_file_size=int(settings.max_file_mb * 1e6), allowed_paths=[], blocked_paths=[str(settings.store)],
            footer_links=["api"], mcp_server=False, ssr_mode=False, theme=gr.themes.Soft(primary_hue="teal"),
            css=CSS, js=CITATIONS_JS,
        )  # fmt: skip
        if block:
            where = f"[{host}]" if ":" in host else host
            url = f"http://{where}:{port}"
            print(f"career-assistant: the chat page is at {url} (store: {settings.store}; Ctrl+C stops)", flush=True)
            demo.block_thread()
    finally:
        if block:
            live.close()
    return demo


# ---------------------------------------------------------------- sources and citations

CSS = """
#sources { font-size: 0.9em; }
#sources details.source { margin: 0.15em 0; border-radius: 6px; padding: 0.1em 0.4em; }
#sources details.source > summary { cursor: pointer; }
#sources code { word-break: break-all; }
#sources details.source blockquote { margin: 0.3em 0 0.6em; white-space: pre-wrap; }
#sources details.source.flash { background: var(--color-accent-soft); transition: background 0.3s; }
#sources .earlier > summary { cursor: pointer; opacity: 0.8; }
#chat a.cite { text-decoration: none; font-weight: 600; cursor: pointer; color: var(--color-accent); }
"""

#: Turns each [n] in an answer into a link that opens source n of that answer in the sources panel.
#: (The message text itself stays plain, so "copy" copies the answer as written.)
CITATIONS_JS = r"""
() => {
  const MARK = /\[(\d{1,3})\]/g;
  const link = () => {
    document.querySelectorAll('#chat [data-testid="bot"] .message-content').forEach((body, turn) => {
      const walker = document.createTreeWalker(body, NodeFilter.SHOW_TEXT);
      const found = [];
      while (walker.nextNode()) {
        const node = walker.currentNode;
        MARK.lastIndex = 0;
        if (MARK.test(node.nodeValue) && !node.parentElement.closest('a, code, pre')) found.push(node);
      }
      for (const node of found) {
        const text = node.nodeValue, parts = document.createDocumentFragment();
        let last = 0;
        text.replace(MARK, (whole, n, at) => {
          parts.append(text.slice(last, at));
          const a = document.createElement('a');
          a.className = 'cite'; a.href = `#source-${turn}-${n}`; a.dataset.turn = turn; a.dataset.n = n;
          a.title = 'Show source ' + n; a.textContent = whole;
          parts.append(a);
          last = at + whole.length;
          return whole;
        });
        parts.append(text.slice(last));
        node.replaceWith(parts);
      }
    });
  };
  let pending = false;
  new MutationObserver(() => {
    if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; link(); }); }
  }).observe(document.body, {childList: true, subtree: true, characterData: true});
  document.addEventListener('click', (event) => {
    const a = event.target.closest && event.target.closest('a.cite');
    if (!a) return;
    event.preventDefault(); event.stopPropagation();
    const item = document.getElementById(`source-${a.dataset.turn}-${a.dataset.n}`);
    if (!item) return;
    for (let el = item; el; el = el.parentElement) if (el.tagName === 'DETAILS') el.open = true;
    document.querySelectorAll('#sources .flash').forEach((el) => el.classList.remove('flash'));
    item.classList.add('flash');
    item.scrollIntoView({block: 'nearest', behavior: 'smooth'});
  }, true);
}
"""


def _esc(text: str) -> str:
    # Also braces: the HTML component fills a template, and a posting may contain "${...}" or "{{...}}".
    return html.escape(text).replace("{", "&#123;").replace("}", "&#125;").replace("$", "&#36;")


def sources_html(cited: Sequence[Sequence[Mapping[str, str]]]) -> str:
    """The sources panel: the last answer's citations, then earlier answers' folded away.

    Each citation is a `<details id="source-{answer}-{n}">` (answer counts the assistant's messages from 0),
    closed until its [n] marker in that answer is clicked.
    """
    head = "<p><strong>Sources · 来源</strong></p>"
    if not cited:
        return head + "<p><em>The postings and articles behind each answer appear here; click a [n].</em></p>"
    last = len(cited) - 1
    parts = [head, _turn_html(last, cited[last])]
    earlier = [_turn_html(t, cited[t]) for t in range(last - 1, -1, -1) if cited[t]]
    if earlier:
        summary = "<summary>Earlier answers · 之前的回答</summary>"
        parts.append(f'<details class="earlier">{summary}{"".join(earlier)}</details>')
    return "".join(parts)


def _turn_html(turn: int, citations: Sequence[Mapping[str, str]]) -> str:
    if not citations:
        return f'<div class="turn" data-turn="{turn}"><p><em>This answer cites no postings or articles.</em></p></div>'
    items = []
    for n, c in enumerate(citations, start=1):
        quote = " ".join(str(c["text"]).split())
        quote = quote if len(quote) <= QUOTE_CHARS else quote[: QUOTE_CHARS - 1] + "…"
        items.append(
            f'<details class="source" id="source-{turn}-{n}"><summary><strong>[{n}]</strong> '
            f"<code>{_esc(str(c['source_file']))}</code> · {_esc(str(c['locator']))}</summary>"
            f"<blockquote>{_esc(quote)}</blockquote></details>"
        )
    return f'<div class="turn" data-turn="{turn}">{"".join(items)}</div>'


def _revealed(text: str) -> Iterator[str]:
    """The text so far, a line at a time (the answer is computed whole; this paces its display)."""
    lines = text.splitlines(keepends=True)
    for end in range(1, len(lines)):
        yield "".join(lines[:end])


# ---------------------------------------------------------------- figures: chart, labels, rows behind them

_NAMES = {
    "en": {"count": "postings", "count_rows": "rows in the files", "count_distinct_jobs": "distinct jobs",
           "count_distinct_title_city": "distinct title and city", "salary_median": "median monthly pay",
           "salary_p25": "25th percentile pay", "salary_p75": "75th percentile pay", "share_percent": "share, %",
           "top_city": "postings in", "top_skill": "postings asking for", "top_company": "postings at",
           "top_title": "postings titled", "top_role": "postings in role"},
}  # fmt: skip


def _pickable(answer: Answer) -> list[Figure]:
    """The answer's figures and, for advice, each target role's postings (the rows behind its numbers)."""
    extra = [Figure("count", a.count, a.count, a.filters, "", "", a.subject) for a in answer.advice]
    return [*answer.figures, *extra]


def figure_label(figure: Figure) -> str:
    """e.g. "median monthly pay 25,000 · Beijing · nlp (n=215)"."""
    name = _NAMES["en"].get(figure.name, figure.name)
    value = f"{figure.value:,.0f}" if isinstance(figure.value, float) and figure.value >= 100 else f"{figure.value:,}"
    top = figure.name.removeprefix("top_") if figure.name.startswith("top_") else ""
    where = [str(v) for k, v in figure.filters.items() if k != top]
    if top:
        return f"{name} {figure.filters.get(top, '?')}: {value} of {figure.n:,}" + "".join(f" · {w}" for w in where)
    return f"{name} {value} · {' · '.join(where) or 'all postings'} (n={figure.n:,})"


def figure_choices(answer: Answer) -> list[tuple[str, int]]:
    return [(figure_label(f), i) for i, f in enumerate(_pickable(answer))]


#: A cell a spreadsheet would run as a formula starts with one of these.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet shows as text: one starting with = + - @ (or a tab/CR) gets a leading '."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        value = ", ".join(str(v) for v in value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    """UTF-8 with a BOM (so Excel reads Chinese right), every cell neutralised by `safe_cell`."""
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(header)
        out.writerows([safe_cell(v) for v in row] for row in rows)
    return path


def _prune(folder: Path, older_than_s: float) -> None:
    """Delete files in `folder` not modified for `older_than_s` seconds (old CSV downloads)."""
    cutoff = time.time() - older_than_s
    for path in folder.iterdir():
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except FileNotFoundError:
            pass  # another session pruned it first


def _display_row(row: Sequence[Any]) -> list[Any]:
    return [", ".join(v) if isinstance(v, list | tuple) else ("" if v is None else v) for v in row]


def _slug(figure: Figure) -> str:
    words = [figure.name, *(str(v) for v in figure.filters.values())]
    return re.sub(r"[^\w]+", "-", "-".join(words), flags=re.UNICODE).strip("-")[:80] or "figure"


def chart_update(answer: Answer) -> Any:
    """The chart for an answer's figures, or a hidden chart when it has none worth drawing."""
    figures = answer.figures or tuple(
        Figure("salary_median", a.median, a.count, {"roles": a.role}) for a in answer.advice if a.median is not None
    )  # advice: the target roles' median pay side by side
    frame, title, y_title = chart_data(figures, answer.intent, answer.language)
    if frame is None:
        return gr.BarPlot(value=None, visible=False)
    # Keep the figures' own order (p25, median, p75; ranks; years): Vega would sort the labels alphabetically.
    order = list(dict.fromkeys(str(label) for label in frame["label"]))
    return gr.BarPlot(value=frame, title=title, y_title=y_title, x_title="", sort=order, visible=True)


def chart_data(
    figures: Sequence[Figure], intent: str = "", language: str = "en"
) -> tuple[pd.DataFrame | None, str, str]:
    """Which figures to draw as bars, and their titles: a top list, else pay, else posting counts.

    A trend question draws counts (demand) per year; one pay figure draws its quartiles.
    """
    lang = "zh" if language == "zh" else "en"
    t = _TITLES[lang]
    tops = [f for f in figures if f.name.startswith("top_")]
    if tops:
        dimension = tops[0].name.removeprefix("top_")
        same = [f for f in tops if f.name == tops[0].name]
        labels = [value_label(dimension, str(f.filters.get(dimension, "?")), lang) for f in same]
        return _frame(labels, [f.value for f in same]), t["top"].format(t.get(dimension, dimension)), t["postings"]
    medians = [f for f in figures if f.name == "salary_median"]
    counts = [f for f in figures if f.name == "count"]
    if medians and not (intent == "trend" and counts):
        if len(medians) == 1:
            quartiles = {f.name: f.value for f in figures if f.filters == medians[0].filters}
            names = [n for n in ("salary_p25", "salary_median", "salary_p75") if n in quartiles]
            shown = [(t[n], quartiles[n]) for n in names]
            title = t["pay_one"].format(_group_label(medians[0], medians, lang), medians[0].n)
            return _frame([s[0] for s in shown], [s[1] for s in shown]), title, t["cny"]
        labels = [f"{_group_label(f, medians, lang)} (n={f.n})" for f in medians]
        return _frame(labels, [f.value for f in medians]), t["pay"], t["cny"]
    if counts:
        labels = [_group_label(f, counts, lang) for f in counts]
        return _frame(labels, [f.value for f in counts]), t["count"], t["postings"]
    return None, "", ""


_TITLES = {
    "en": {"top": "Postings by {}", "pay_one": "Monthly pay, {} (n={})", "pay": "Median monthly pay",
           "count": "Postings", "postings": "postings", "cny": "CNY / month", "salary_p25": "25th percentile",
           "salary_median": "median", "salary_p75": "75th percentile", "all": "all postings"},
    "zh": {"top": "职位数（按{}）", "pay_one": "月薪，{}（样本 {}）", "pay": "月薪中位数", "count": "职位数",
           "postings": "职位数", "cny": "元/月", "salary_p25": "25分位", "salary_median": "中位数",
           "salary_p75": "75分位", "city": "城市", "skill": "技能", "role": "岗位", "company": "公司",
           "all": "全部职位"},
}  # fmt: skip


def _group_label(figure: Figure, group: Sequence[Figure], lang: str = "en") -> str:
    """Name a figure by the filters that tell it apart from the others in its group (all of them if alone)."""
    keys = [k for k in figure.filters if len({str(f.filters.get(k)) for f in group}) > 1] or list(figure.filters)
    return " · ".join(value_label(k, str(figure.filters[k]), lang) for k in keys) or _TITLES[lang]["all"]


def _frame(labels: Sequence[str], values: Sequence[Any]) -> pd.DataFrame | None:
    numeric = [(label, float(v)) for label, v in zip(labels, values, strict=True) if isinstance(v, int | float)]
    if not numeric:
        return None
    return pd.DataFrame({"label": [n[0] for n in numeric], "value": [n[1] for n in numeric]})


# ---------------------------------------------------------------- profile gap, filters, store panel


def gap_update(answer: Answer) -> Any:
    """The "your gap" list for an advice answer: per target role, the top skills the asker has and lacks."""
    if not answer.advice:
        return gr.Markdown(visible=False)
    zh = answer.language == "zh"
    lines = ["**你的技能差距**" if zh else "**Your gap**"]
    for a in answer.advice:
        have = ", ".join(map(_md, a.have)) or "—"  # a board's own skill tags are text from its postings
        learn = ", ".join(map(_md, a.gap)) or "—"
        pay = f", median {a.median:,.0f} CNY" if a.median is not None and not zh else (
            f"，中位数 {a.median:,.0f} 元" if a.median is not None else "")  # fmt: skip
        if zh:
            lines.append(f"- **{a.label}**（{a.count:,} 个职位{pay}）：已具备 {have}；待补 **{learn}**")
        else:
            lines.append(f"- **{a.label}** ({a.count:,} postings{pay}): you have {have}; to learn **{learn}**")
    return gr.Markdown("\n".join(lines), visible=True)


def filter_choices(assistant: CareerAssistant) -> dict[str, list[tuple[str, str]]]:
    """What the filter widgets offer: values present in the store, with their counts."""
    found = assistant.facets(min_city_postings=FILTER_CITY_MIN)
    cities, roles, years, sources = found["cities"], found["roles"], found["years"], found["sources"]

    def city_label(name: str, n: int) -> str:
        city = canonical_city(name)
        return f"{name} {city.zh} ({n:,})" if city else f"{name} ({n:,})"

    return {
        "cities": [(city_label(c, n), c) for c, n in cities],
        "roles": [(f"{role_label(r, 'en')} · {role_label(r, 'zh')} ({n:,})", r) for r, n in roles],
        "years": [(f"{y} ({n:,})", str(y)) for y, n in years],
        "sources": [*((f"{s} ({n:,})", s) for s, n in sources), ("articles · 文章", ARTICLES)],
    }


def _chosen_filters(assistant: CareerAssistant, cities: Sequence[str], roles: Sequence[str],
                    years: Sequence[str], sources: Sequence[str]) -> dict[str, list[Any]]:  # fmt: skip
    """The widgets' state as `ask(filters=...)`; every source ticked is the same as none (no restriction)."""
    chosen: dict[str, list[Any]] = {"cities": list(cities or []), "roles": list(roles or []),
                                    "years": [int(y) for y in years or []]}  # fmt: skip
    picked = set(sources or [])
    if picked and picked != {*assistant.sources, ARTICLES}:
        chosen["sources"] = sorted(picked)
    return {k: v for k, v in chosen.items() if v}


def store_markdown(assistant: CareerAssistant) -> str:
    """What the answers rest on: postings by source with their period, and the articles."""
    stats = assistant.stats()
    lines = ["| source | postings | period | with pay |", "|---|---:|---|---:|"]
    for s in stats["sources"]:
        period = f"{s['first']} – {s['last']}" if s["first"] else "dates unknown"
        share = 100 * s["with_salary"] / s["postings"] if s["postings"] else 0
        lines.append(f"| {_md(str(s['source']))} | {s['postings']:,} | {period} | {share:.0f}% |")
    articles = stats["articles"]
    lines.append("")
    lines.append(f"**{stats['postings']:,} postings** in {stats['city_count']:,} cities; **{len(articles)} articles** "
                 f"({sum(a[2] for a in articles)} passages):")  # fmt: skip
    lines += [f"- {_md(str(title) or str(path))} · `{Path(str(path)).name}`" for path, title, _ in articles]
    updated = stats.get("updated")
    if updated:
        lines.append(f"\n*Store updated {str(updated)[:19].replace('T', ' ')}.*")
    return "\n".join(lines)


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+|!~&])")
_ESCAPED = re.compile(r"\\([\\`*_{}\[\]<>()#+|!~&:.])")
#: Where the chat's Markdown would make a link by itself: "http://", "www.".
_AUTOLINK = re.compile(r"(?<=\w)(:)(?=//)|(?<=\bwww)(\.)", re.IGNORECASE)


def _md(text: str) -> str:
    """Plain text shown literally in Markdown (titles and postings contain *, |, <, # ...)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def chat_text(text: str) -> str:
    """A message as the chat shows it: every character literal, so a document's `<script>`, `<img onerror>`,
    `![](remote image)` or `[link](url)` in a quoted passage is shown as text and never becomes markup; line
    breaks and "- " list lines are kept (answers are plain text), and a URL is not made a link."""
    lines = (_MARKDOWN_SPECIAL.sub(r"\\\1", line) for line in text.split("\n"))
    return "\n".join(_AUTOLINK.sub(lambda m: "\\" + m.group(), line) for line in lines)


def as_written(text: str) -> str:
    """The text `chat_text` escaped (what a conversation's earlier turns said, for follow-up questions)."""
    return _ESCAPED.sub(r"\1", text)


# ---------------------------------------------------------------- a person's own files

UPLOAD_HELP = """\
Postings (.csv .tsv .json .jsonl .xlsx) or articles (.txt .md .html .pdf), up to {mb} MB each. They are checked
like `career-assistant ingest` checks files: a file that cannot be read is listed with the reason and the
others still go in. Uploading a file with the same name again replaces it."""

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


def add_uploads(live: Live, files: Sequence[Path]) -> str:
    """Put uploaded files into `<store>/uploads/` and ingest them; a report a person can read.

    Files with a type ingest does not read, or over the size limit, are refused before anything is copied;
    the rest go through `career-assistant ingest` in a child process, so a file that crashes a parser cannot
    take the page down. A file that fails to ingest is taken out of the uploads folder again (a replaced
    upload gets its previous version back), so the folder only ever holds what the store holds.
    """
    if not files:
        return "Choose one or more files first · 请先选择文件。"
    settings = live.assistant.settings
    folder = Path(settings.store) / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    limit = settings.max_file_mb * 1e6
    refused: list[str] = []
    placed: dict[Path, bytes | None] = {}  # target -> its previous bytes (None: new file)
    for upload in files:
        name = upload_name(upload.name)
        size = upload.stat().st_size if upload.is_file() else -1
        if not name.lower().endswith(UPLOAD_SUFFIXES):
            refused.append(f"{upload.name}: unknown file type; postings: .csv .tsv .json .jsonl .xlsx; "
                           "articles: .txt .md .html .htm .pdf")  # fmt: skip
            continue
        if size < 0:
            refused.append(f"{upload.name}: not a readable file")
            continue
        if size > limit:
            refused.append(f"{upload.name}: {size / 1e6:.3g} MB is over the {settings.max_file_mb:g} MB limit")
            continue
        target = folder / name
        if not target.resolve().is_relative_to(folder.resolve()):
            refused.append(f"{upload.name}: not a usable file name")
            continue
        if target in placed:
            refused.append(f"{upload.name}: another file in this upload has the same name")
            continue
        placed[target] = target.read_bytes() if target.is_file() else None
        shutil.copyfile(upload, target)
    lines = [f"- ✗ {_md(r)}" for r in refused]
    if placed:
        outcome, report = _ingest(settings, list(placed))
        failed = {Path(f["file"]).name: f["error"] for f in outcome.get("files", []) if f["status"] == "failed"}
        if not outcome:  # the run itself failed (store in use, killed, ...): nothing of this upload is kept
            failed = {t.name: report for t in placed}
        for target, previous in placed.items():
            if target.name in failed:
                if previous is None:
                    target.unlink(missing_ok=True)
                else:
                    target.write_bytes(previous)
        added = [f for f in outcome.get("files", []) if f["status"] in ("added", "changed", "unchanged")]
        if outcome.get("committed"):
            live.reload()
        for f in added:
            what = "postings" if f["kind"] == "postings" else "article passages"
            lines.append(f"- ✓ `{Path(f['file']).name}`: {f['records']:,} {what} ({f['status']})")
        if outcome:
            lines += [f"- ✗ `{name}`: {_md(reason)}" for name, reason in failed.items()]
        else:
            lines.append(f"- ✗ nothing was added: {_md(report)}")
        if outcome:
            lines.append(f"\n```text\n{_unfenced(report)}\n```")
    return "\n".join(lines)


def _unfenced(text: str) -> str:
    """Text that cannot close the code fence it is shown in (a reason may quote a file's own backticks)."""
    return text.replace("`", "ˋ")


def _ingest(settings: Settings, paths: Sequence[Path]) -> tuple[dict[str, Any], str]:
    """Run `career-assistant ingest --json` on the files: (its report, its text), or ({}, why it failed)."""
    command = [sys.executable, "-m", "assistant.cli", "ingest", *map(str, paths), "--store", str(settings.store),
               "--quiet", "--json"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": _package_root()}
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=UPLOAD_TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        return {}, f"ingest took over {UPLOAD_TIMEOUT_S} s and was stopped"
    if run.returncode in (0, 1):
        try:
            outcome: dict[str, Any] = json.loads(run.stdout)
            # Visitors see the report: name the store, not where it lives on the server's disk.
            return outcome, str(outcome.get("report", "")).replace(str(settings.store), "<store>")
        except ValueError:
            pass
    reason = (run.stderr or run.stdout or "").strip().splitlines()
    return {}, reason[-1] if reason else f"ingest stopped with exit code {run.returncode}"


def _package_root() -> str:
    root = str(Path(__file__).resolve().parent.parent)
    rest = os.environ.get("PYTHONPATH")
    return f"{root}{os.pathsep}{rest}" if rest else root
