"""The chat UI and its HTTP API: a thin Gradio shell over `CareerAssistant`.

The only module that imports gradio. Handlers are a few lines around `assistant.ask`; what is here
besides them is display: the sources panel as Markdown and the figures as a bar chart.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Sequence
from typing import Any

import gradio as gr
import pandas as pd

from assistant.api import CareerAssistant
from assistant.config import Settings
from assistant.errors import CareerAssistantError
from assistant.schema import Answer, Citation, Figure

log = logging.getLogger(__name__)

EXAMPLES = [
    "What do NLP engineers earn in Beijing?",
    "Which cities have the most AI jobs?",
    "I'm a Java backend developer in Shanghai on 15k a month. How do I move into machine learning?",
    "北京和上海的大模型岗位哪个薪资高？",
    "深圳大模型岗位要求哪些技能？",
    "为什么中国缺少人工智能人才？",
]

INTRO = """\
## Career assistant · 职业助手
Which skills are in demand, where, at what pay, and how to move toward AI roles, answered from job postings
and news articles. Every number cites the postings it was computed from. Ask in English or 中文;
a follow-up such as *"and in Shenzhen?"* keeps the last question's filters."""

#: Safe serving defaults (the queue bounds memory and CPU per process; uploads are not used at all).
CONCURRENCY = 4
QUEUE_SIZE = 64
MAX_FILE_SIZE = "1mb"
QUOTE_CHARS = 300


def build_app(assistant: CareerAssistant) -> gr.Blocks:
    """The chat page and the `/ask` endpoint over one opened assistant.

    Args:
        assistant: answers every question; shared by all sessions (its store reads are thread-safe).

    Returns:
        The Blocks app, not yet launched (see `serve`).
    """

    def respond(question: str, history: list[dict[str, Any]] | None) -> Iterator[tuple[Any, ...]]:
        """Stream one answer into the chat, then show its sources and chart."""
        history = list(history or [])
        if not question or not question.strip():
            yield "", history, gr.skip(), gr.skip()
            return
        turns = [*history, {"role": "user", "content": question}]
        try:
            answer = assistant.ask(question, history=history)
        except CareerAssistantError as exc:
            yield "", [*turns, {"role": "assistant", "content": f"⚠️ {exc}"}], gr.skip(), gr.skip()
            return
        for text in _revealed(answer.text):
            yield "", [*turns, {"role": "assistant", "content": text}], gr.skip(), gr.skip()
        final = [*turns, {"role": "assistant", "content": answer.text}]
        yield "", final, sources_markdown(answer), chart_update(answer)

    def ask(question: str) -> dict[str, Any]:
        """Answer one question (English or Chinese); the same JSON as `career-assistant ask --json`."""
        try:
            return assistant.ask(question).to_dict()
        except CareerAssistantError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    with gr.Blocks(title="Career assistant", analytics_enabled=False) as demo:
        gr.Markdown(INTRO)
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chat = gr.Chatbot(
                    label="Chat", elem_id="chat", height=560, feedback_options=None, buttons=["copy"],
                    placeholder="Ask about skills in demand, pay by city, or moving into AI roles.",
                )  # fmt: skip
                question = gr.Textbox(
                    show_label=False, elem_id="question", submit_btn="Ask", autofocus=True, max_length=2000,
                    placeholder="e.g. What do NLP engineers earn in Beijing? · 北京大模型岗位薪资多少？",
                )  # fmt: skip
                clear = gr.Button("Clear chat", elem_id="clear", size="sm", variant="secondary")
                gr.Examples(EXAMPLES, inputs=question, label="Try one · 试试这些")
            with gr.Column(scale=2):
                chart = gr.BarPlot(
                    value=None, x="label", y="value", y_lim=[0, None], sort=None, elem_id="chart",
                    label="Figures", visible=False, height=300,
                )  # fmt: skip
                sources = gr.Markdown(NO_SOURCES, elem_id="sources", container=True, min_height=120)

        question.submit(
            respond, [question, chat], [question, chat, sources, chart], api_visibility="private",
            concurrency_id="assistant",
        )  # fmt: skip
        clear.click(
            lambda: ([], NO_SOURCES, gr.BarPlot(value=None, visible=False)), None, [chat, sources, chart],
            api_visibility="private", queue=False,
        )  # fmt: skip
        gr.api(ask, api_name="ask", concurrency_id="assistant")
    return demo


def serve(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 7860,
    auth: tuple[str, str] | None = None,
    *,
    block: bool = True,
) -> gr.Blocks:
    """Open the store and serve the UI with safe defaults (local only, no share link, bounded queue).

    Args:
        settings: which store to answer from.
        host: the interface to bind; 127.0.0.1 keeps the page on this machine.
        port: the port to listen on.
        auth: (user, password) to require a login, from `--auth USER:PASS`.
        block: wait until interrupted (the CLI); False returns at once with the server running (tests).

    Returns:
        The running app; call `.close()` on it when `block` is False.

    Raises:
        UserError: the store is missing or was built with another model.
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    assistant = CareerAssistant(settings=settings)
    if host not in ("127.0.0.1", "localhost", "::1") and auth is None:
        log.warning("serving on %s without --auth: anyone who can reach this port can use the page", host)
    demo = build_app(assistant)
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    try:
        demo.launch(
            server_name=host, server_port=port, auth=auth, share=False, inbrowser=False,
            prevent_thread_lock=not block, quiet=not block, show_error=False, max_file_size=MAX_FILE_SIZE,
            allowed_paths=[], blocked_paths=[str(settings.store)], footer_links=["api"], mcp_server=False,
            ssr_mode=False, theme=gr.themes.Soft(primary_hue="teal"), css=CSS,
        )  # fmt: skip
    finally:
        if block:
            assistant.close()
    return demo


NO_SOURCES = "**Sources** · 来源\n\n*The postings and articles behind the last answer appear here.*"
CSS = "#sources { font-size: 0.9em; } #sources blockquote { margin: 0.2em 0 0.8em; }"


def _revealed(text: str) -> Iterator[str]:
    """The text so far, a line at a time (the answer is computed whole; this paces its display)."""
    lines = text.splitlines(keepends=True)
    for end in range(1, len(lines)):
        yield "".join(lines[:end])


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+|!~])")


def _md(text: str) -> str:
    """Plain text shown literally in Markdown (postings contain *, |, <, # ...)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def sources_markdown(answer: Answer) -> str:
    """The sources panel: each [n] of the answer as file · locator and the quoted text."""
    if not answer.citations:
        return "**Sources** · 来源\n\n*This answer cites no postings or articles.*"
    return "**Sources** · 来源\n\n" + "\n\n".join(
        _citation_markdown(n, c) for n, c in enumerate(answer.citations, start=1)
    )


def _citation_markdown(number: int, citation: Citation) -> str:
    quote = " ".join(citation.text.split())
    quote = quote if len(quote) <= QUOTE_CHARS else quote[: QUOTE_CHARS - 1] + "…"
    return f"**[{number}]** `{citation.source_file}` · {_md(citation.locator)}\n> {_md(quote)}"


def chart_update(answer: Answer) -> Any:
    """The chart for an answer's figures, or a hidden chart when it has none worth drawing."""
    frame, title, y_title = chart_data(answer.figures, answer.intent, answer.language)
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
    t = _TITLES["zh" if language == "zh" else "en"]
    tops = [f for f in figures if f.name.startswith("top_")]
    if tops:
        dimension = tops[0].name.removeprefix("top_")
        same = [f for f in tops if f.name == tops[0].name]
        labels = [str(f.filters.get(dimension, "?")) for f in same]
        return _frame(labels, [f.value for f in same]), t["top"].format(t.get(dimension, dimension)), t["postings"]
    medians = [f for f in figures if f.name == "salary_median"]
    counts = [f for f in figures if f.name == "count"]
    if medians and not (intent == "trend" and counts):
        if len(medians) == 1:
            quartiles = {f.name: f.value for f in figures if f.filters == medians[0].filters}
            names = [n for n in ("salary_p25", "salary_median", "salary_p75") if n in quartiles]
            shown = [(t[n], quartiles[n]) for n in names]
            title = t["pay_one"].format(_group_label(medians[0], medians), medians[0].n)
            return _frame([s[0] for s in shown], [s[1] for s in shown]), title, t["cny"]
        labels = [f"{_group_label(f, medians)} (n={f.n})" for f in medians]
        return _frame(labels, [f.value for f in medians]), t["pay"], t["cny"]
    if counts:
        return _frame([_group_label(f, counts) for f in counts], [f.value for f in counts]), t["count"], t["postings"]
    return None, "", ""


_TITLES = {
    "en": {"top": "Postings by {}", "pay_one": "Monthly pay, {} (n={})", "pay": "Median monthly pay",
           "count": "Postings", "postings": "postings", "cny": "CNY / month", "salary_p25": "25th percentile",
           "salary_median": "median", "salary_p75": "75th percentile"},
    "zh": {"top": "职位数（按{}）", "pay_one": "月薪，{}（样本 {}）", "pay": "月薪中位数", "count": "职位数",
           "postings": "职位数", "cny": "元/月", "salary_p25": "25分位", "salary_median": "中位数",
           "salary_p75": "75分位", "city": "城市", "skill": "技能", "role": "岗位", "company": "公司"},
}  # fmt: skip


def _group_label(figure: Figure, group: Sequence[Figure]) -> str:
    """Name a figure by the filters that tell it apart from the others in its group (all of them if alone)."""
    keys = [k for k in figure.filters if len({str(f.filters.get(k)) for f in group}) > 1] or list(figure.filters)
    return " · ".join(str(figure.filters[k]) for k in keys) or "all postings"


def _frame(labels: Sequence[str], values: Sequence[Any]) -> pd.DataFrame | None:
    numeric = [(label, float(v)) for label, v in zip(labels, values, strict=True) if isinstance(v, int | float)]
    if not numeric:
        return None
    return pd.DataFrame({"label": [n[0] for n in numeric], "value": [n[1] for n in numeric]})
