"""The chat page: layout and wiring of Gradio components over one `CareerAssistant`, and `serve`.

What the components show comes from `render` (pure functions); what the page knows comes from the API.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from assistant.api import UPLOAD_SUFFIXES, CareerAssistant, preview_file, upload_name
from assistant.config import Settings
from assistant.errors import CareerAssistantError
from assistant.schema import POSTING_FIELDS as FIELD_NAMES
from assistant.schema import Answer, Figure, FilePreview
from assistant.ui.render import (
    FIELD_LABELS,
    _display_row,
    _md,
    _pickable,
    _prune,
    _revealed,
    _slug,
    answer_text,
    as_written,
    chart_data,
    chat_text,
    chosen_filters,
    figure_choices,
    figure_label,
    filter_choices,
    gap_markdown,
    mapping_markdown,
    sources_html,
    store_markdown,
    upload_failed_markdown,
    upload_markdown,
    write_csv,
)

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
CSS = (STATIC / "style.css").read_text(encoding="utf-8")
#: Turns each [n] in an answer into a link that opens source n of that answer in the sources panel.
CITATIONS_JS = (STATIC / "citations.js").read_text(encoding="utf-8")

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
UPLOAD_HELP = """\
Postings (.csv .tsv .json .jsonl .xlsx) or articles (.txt .md .html .pdf), up to {mb} MB each. After you choose
a postings file the page shows its first rows and which column it will read for each field: correct any that
are wrong, then add. Files are checked like `career-assistant ingest` checks them: a file that cannot be read is
listed with the reason and the others still go in. Uploading a file with the same name again replaces it."""

#: Safe serving defaults: the queue bounds memory and CPU per process.
CONCURRENCY = 4
QUEUE_SIZE = 64
#: Rows shown in the page for one figure (the CSV download has all of them).
ROWS_SHOWN = 500
#: Cities offered as filters: those with at least this many postings.
FILTER_CITY_MIN = 20
#: CSV downloads (ours and Gradio's cached copies) are deleted after this many seconds.
KEEP_FILES_S = 3600
#: The mapping step's choice for "no column".
NO_COLUMN = "(none)"
PAY_PERIODS = [("a month · 月", "month"), ("a year · 年", "year"), ("a day · 日", "day")]


def build_app(assistant: CareerAssistant, uploads: bool = True) -> gr.Blocks:
    """The chat page and the `/ask` and `/chat` endpoints over one assistant.

    Args:
        assistant: answers every question; shared by all sessions (its store reads are thread-safe, and it
            follows the store: data an ingest publishes is answered from at the next question).
        uploads: offer "Add your own data" (files go into the assistant's store).

    Returns:
        The Blocks app, not yet launched (see `serve`).
    """
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
        answer: Answer | None = None
        try:
            filters = chosen_filters(assistant.sources if assistant.has_data else (), cities, roles, years, sources)
            for event in assistant.stream_answer(question, history=earlier, profile=profile, filters=filters):
                if isinstance(event, Answer):
                    answer = event
                else:  # a chat model's reply so far, token by token
                    yield "", [*turns, {"role": "assistant", "content": chat_text(event)}], cited, *(gr.skip(),) * 5
        except CareerAssistantError as exc:
            cited.append([])
            chat = [*turns, {"role": "assistant", "content": chat_text(f"⚠️ {exc}")}]
            yield "", chat, cited, sources_html(cited), *(gr.skip(),) * 4
            return
        assert answer is not None
        shown = answer_text(answer)
        if assistant.chat_model is None:  # computed whole: pace its display a line at a time
            for text in _revealed(shown):
                yield "", [*turns, {"role": "assistant", "content": chat_text(text)}], cited, *(gr.skip(),) * 5
        cited.append([asdict(c) for c in answer.citations])
        picked = figure_choices(answer)
        gap = gap_markdown(answer)
        yield (
            "", [*turns, {"role": "assistant", "content": chat_text(shown)}], cited, sources_html(cited),
            chart_update(answer), gr.Dropdown(choices=picked, value=None, visible=bool(picked)),
            [asdict(f) for f in _pickable(answer)], gr.Markdown(gap, visible=bool(gap)),
        )  # fmt: skip

    def show_rows(index: int | None, figures: list[dict[str, Any]]) -> tuple[Any, Any, Any]:
        """The postings behind the chosen figure: a table in the page and the whole list as CSV."""
        if index is None or not figures or not 0 <= int(index) < len(figures):
            return gr.Dataframe(visible=False), gr.DownloadButton(visible=False), gr.Markdown(visible=False)
        figure = Figure.from_dict(figures[int(index)])
        header, rows = assistant.rows_behind(figure)
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

    def store_state() -> tuple[Any, ...]:
        """The store panel and the filter choices, as the store now is."""
        choices = filter_choices(assistant.facets(min_city_postings=FILTER_CITY_MIN))
        return (store_markdown(assistant.stats() if assistant.has_data else None),
                gr.Dropdown(choices=choices["cities"]), gr.Dropdown(choices=choices["roles"]),
                gr.CheckboxGroup(choices=choices["years"]), gr.CheckboxGroup(choices=choices["sources"]))  # fmt: skip

    # -- adding files: preview and mapping, then ingest

    def inspect(files: list[str] | None) -> tuple[Any, ...]:
        """Preview every postings file of the upload; show the mapping step for the first."""
        previews = {Path(f).name: asdict(preview_file(f, assistant.settings)) for f in files or []}
        tables = [name for name, p in previews.items() if p["kind"] == "postings" and not p["error"]]
        mappings = {name: dict(previews[name]["suggested"]) for name in tables}
        first = tables[0] if tables else None
        return (previews, mappings, gr.Dropdown(choices=tables, value=first, visible=len(tables) > 1),
                *mapping_view(first, previews, mappings), gr.Column(visible=bool(tables)))  # fmt: skip

    def mapping_view(name: str | None, previews: dict[str, Any], mappings: dict[str, dict[str, str]]) -> list[Any]:
        """The chosen file's first rows, a note on its mapping, and one column choice per field."""
        if name is None or name not in previews:
            return [gr.Dataframe(visible=False), "", *(gr.Dropdown(choices=[], value=None) for _ in FIELD_NAMES)]
        preview = FilePreview.from_dict(previews[name])
        mapping = mappings.get(name, {})
        frame = pd.DataFrame([list(r) for r in preview.rows], columns=list(preview.headers))
        boxes = [gr.Dropdown(choices=[NO_COLUMN, *preview.headers], value=mapping.get(f, NO_COLUMN))
                 for f in FIELD_NAMES]  # fmt: skip
        return [gr.Dataframe(value=frame, visible=True), mapping_markdown(preview, mapping), *boxes]

    def show_file(name: str | None, previews: dict[str, Any], mappings: dict[str, dict[str, str]]) -> list[Any]:
        return mapping_view(name, previews, mappings)

    def remap(name: str | None, previews: dict[str, Any], mappings: dict[str, dict[str, str]],
              *chosen: str) -> tuple[dict[str, dict[str, str]], str]:  # fmt: skip
        """The person changed a column choice: keep it for this file and say what the mapping now lacks."""
        if name is None or name not in previews:
            return mappings, ""
        mapping = {f: h for f, h in zip(FIELD_NAMES, chosen, strict=True) if h and h != NO_COLUMN}
        mappings = {**mappings, name: mapping}
        preview = FilePreview.from_dict(previews[name])
        return mappings, mapping_markdown(preview, mapping)

    def add(files: list[str] | None, previews: dict[str, Any] | None, mappings: dict[str, dict[str, str]] | None,
            source: str | None, period: str | None) -> tuple[Any, ...]:  # fmt: skip
        """Ingest the upload: each postings file with its mapping (files with the same mapping in one run),
        articles with the first run; the page answers from the new data at once."""
        previews, mappings = previews or {}, mappings or {}
        paths = [Path(f) for f in files or []]
        if not paths:
            return "Choose one or more files first · 请先选择文件。", *store_state()
        groups: dict[str, tuple[dict[str, str] | None, str | None, list[Path]]] = {}
        for path in paths:
            mapping = mappings.get(path.name)
            # A file in no known layout is named by the source box, else by its own name (not "uploads").
            generic = previews.get(path.name, {}).get("layout") == "generic"
            board = ((source or "").strip() or Path(upload_name(path.name)).stem) if generic else None
            key = repr((sorted((mapping or {}).items()), board))
            groups.setdefault(key, (mapping, board, []))[2].append(path)
        lines = []
        store = str(assistant.settings.store)
        for mapping, board, group in groups.values():
            per = period if board and period not in (None, "month") else None
            try:
                report = assistant.add_files(group, columns=mapping or None, copy=True, source=board, pay_period=per)
                lines.append(upload_markdown(report, store))
            except CareerAssistantError as exc:
                lines.append(upload_failed_markdown(str(exc), store))
            except Exception as exc:  # a bug must not leave the visitor waiting for a report that never comes
                log.exception("adding uploaded files failed")
                lines.append(upload_failed_markdown(f"an unexpected error ({type(exc).__name__})", store))
        return "\n\n".join(lines), *store_state()

    def ask(question: str) -> dict[str, Any]:
        """Answer one question (English or Chinese); the same JSON as `career-assistant ask --json`."""
        return chat_api(question)

    def chat_api(question: str, history: list[Any] | None = None, profile: dict[str, Any] | None = None,
                 filters: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
        """Answer a question in a conversation: history (earlier turns), profile {"role", "skills", "city",
        "monthly_pay"} and filters {"cities", "roles", "years", "sources"}, as in the Python API."""
        try:
            return assistant.ask(question, history=history, profile=profile, filters=filters).to_dict()
        except CareerAssistantError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    choices = filter_choices(assistant.facets(min_city_postings=FILTER_CITY_MIN))
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
                empty = not assistant.has_data
                with gr.Accordion("What the store holds · 数据概况", open=empty, elem_id="store-panel"):
                    store_md = gr.Markdown(store_markdown(None if empty else assistant.stats()), elem_id="store")
                if uploads:
                    with gr.Accordion("Add your own data · 上传数据", open=empty, elem_id="upload-panel"):
                        gr.Markdown(UPLOAD_HELP.format(mb=f"{assistant.settings.max_file_mb:g}"))
                        files = gr.File(file_count="multiple", file_types=list(UPLOAD_SUFFIXES), elem_id="upload",
                                        label="Postings or articles")  # fmt: skip
                        previews = gr.State({})
                        mappings = gr.State({})
                        with gr.Column(visible=False, elem_id="mapping") as mapping_box:
                            map_file = gr.Dropdown([], label="Mapping for · 文件", elem_id="map-file", visible=False)
                            sample = gr.Dataframe(visible=False, interactive=False, elem_id="map-rows", wrap=False,
                                                  max_height=220, label="First rows · 前几行")  # fmt: skip
                            map_note = gr.Markdown(elem_id="map-note")
                            with gr.Row():
                                boxes = [gr.Dropdown([], label=FIELD_LABELS.get(f, f), elem_id=f"map-{f}",
                                                     min_width=140) for f in FIELD_NAMES]  # fmt: skip
                            with gr.Row():
                                source_box = gr.Textbox(label="Source name · 来源名称", elem_id="map-source",
                                                        placeholder="e.g. MyBoard (default: the file's name)",
                                                        max_length=60)  # fmt: skip
                                period = gr.Radio(PAY_PERIODS, value="month", label="Plain-number pay is per",
                                                  elem_id="map-period")  # fmt: skip
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
            view = [sample, map_note, *boxes]
            files.change(inspect, files, [previews, mappings, map_file, *view, mapping_box], api_visibility="private")
            map_file.change(show_file, [map_file, previews, mappings], view, api_visibility="private")
            for box in boxes:
                box.input(remap, [map_file, previews, mappings, *boxes], [mappings, map_note],
                          api_visibility="private", queue=False)  # fmt: skip
            add_btn.click(
                add, [files, previews, mappings, source_box, period],
                [upload_report, store_md, f_cities, f_roles, f_years, f_sources], api_visibility="private",
                concurrency_id="upload", concurrency_limit=1,
            ).then(lambda: None, None, files, api_visibility="private", queue=False)  # fmt: skip
        gr.api(ask, api_name="ask", concurrency_id="assistant")
        gr.api(chat_api, api_name="chat", concurrency_id="assistant")
    return demo


def _reset() -> tuple[Any, ...]:
    hidden = gr.update(visible=False)
    return ([], [], sources_html([]), gr.BarPlot(value=None, visible=False),
            gr.Dropdown(choices=[], value=None, visible=False), [], hidden, hidden, hidden, hidden)  # fmt: skip


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
    """Open the store and serve the UI with safe defaults (local only, no share link, bounded queue). A store
    with no data yet (missing or empty) is served too: the page says how to add some.

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
        UserError: the store was built with another model.
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    assistant = CareerAssistant(settings=settings, allow_missing=True)
    if host not in ("127.0.0.1", "localhost", "::1") and auth is None:
        log.warning("serving on %s without --auth: anyone who can reach this port can use the page", host)
    demo = build_app(assistant, uploads=uploads)
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
            assistant.close()
    return demo
