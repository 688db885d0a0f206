"""The Gradio chat page: `app` lays it out and wires it to `CareerAssistant`; `render` holds the pure functions
that turn answers and store facts into what it shows; `static/` its CSS and script."""

from assistant.ui.app import CITATIONS_JS, CONCURRENCY, CSS, KEEP_FILES_S, QUEUE_SIZE, build_app, serve
from assistant.ui.render import as_written, chart_data, chat_text, safe_cell, sources_html, write_csv

__all__ = ["CITATIONS_JS", "CONCURRENCY", "CSS", "KEEP_FILES_S", "QUEUE_SIZE", "as_written", "build_app",
           "chart_data", "chat_text", "safe_cell", "serve", "sources_html", "write_csv"]  # fmt: skip
