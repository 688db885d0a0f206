"""`career-assistant`: a thin shell over the Python API. All behaviour lives below it."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assistant.config import BUNDLED_CORPUS, EMBEDDING_BACKENDS, EMBEDDING_MODELS, Settings
from assistant.errors import CareerAssistantError, UserError

EXAMPLES = """\
examples:
  career-assistant ingest --bundled                 build the store from the bundled corpus
  career-assistant ingest exports/ notes.md         add your own postings and articles
  career-assistant ingest jobs.csv --columns title=Position,city=Location,salary=Pay --source MyBoard
  career-assistant ingest exports/ --prune          also drop records of files that were deleted
  career-assistant stats                            what the store holds
  career-assistant ask "What do NLP engineers earn in Beijing?"
  career-assistant ask "深圳大模型岗位要求哪些技能？" --json
"""


LLM_HELP = (
    "a chat model to phrase answers (numbers still checked): ollama:MODEL, MODEL@http://HOST:PORT/v1 "
    "(OpenAI-compatible), openai:MODEL or anthropic:MODEL (default: $CAREER_ASSISTANT_LLM)"
)


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(
        store=getattr(args, "store", None),
        llm=getattr(args, "llm", None),
        chroma_url=getattr(args, "chroma_url", None),
        embedding_backend=getattr(args, "embedding_backend", None),
        embedding_model_name=getattr(args, "embedding_model_name", None),
    )


def _cmd_ingest(args: argparse.Namespace) -> int:
    from assistant.api import ingest_files

    paths = [Path(p) for p in args.paths]
    if args.bundled:
        paths.append(BUNDLED_CORPUS)
    if not paths:
        raise UserError("nothing to ingest: give files or folders, or --bundled for the bundled corpus")

    def say(message: str) -> None:
        if not args.quiet:
            print(f"… {message}", file=sys.stderr, flush=True)

    report = ingest_files(
        paths, _settings(args), columns=args.columns, columns_file=args.columns_file, source=args.source,
        scrape_date=args.scrape_date, encoding=args.encoding, pay_period=args.pay_period,
        follow_symlinks=args.follow_symlinks, prune=args.prune, rebuild=args.rebuild, progress=say,
    )  # fmt: skip
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=1))
    else:
        print(report.render())
    return 0 if report.ok else 1


def _cmd_stats(args: argparse.Namespace) -> int:
    from assistant.api import CareerAssistant

    assistant = CareerAssistant(settings=_settings(args))
    try:
        stats = assistant.stats()
    finally:
        assistant.close()
    if args.json:
        print(json.dumps(stats, ensure_ascii=False, default=str, indent=1))
    else:
        print(render_stats(stats))
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from assistant.api import check_store, repair_store

    settings = _settings(args)
    result = check_store(settings)
    if args.repair and not result.ok:
        say = (lambda m: None) if args.json else (lambda m: print(f"… {m}", file=sys.stderr))
        print(result.render(), file=sys.stderr if args.json else sys.stdout)
        reports = repair_store(settings, progress=say)
        for report in reports:
            if not report.ok:
                print(report.render(), file=sys.stderr)
        result = check_store(settings)
        if not args.json:
            print("after the repair:")
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=1))
    else:
        print(result.render())
    return 0 if result.ok else 1


def _cmd_ask(args: argparse.Namespace) -> int:
    from assistant.api import CareerAssistant

    assistant = CareerAssistant(settings=_settings(args))
    try:
        answer = assistant.ask(args.question)
    finally:
        assistant.close()
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, default=str, indent=1))
        return 0
    if answer.notice:
        print(f"ⓘ {answer.notice}\n")
    print(answer.text)
    if answer.citations:  # the sources behind the [n] markers, shortened to one line each
        print()
        for number, citation in enumerate(answer.citations, start=1):
            quoted = " ".join(citation.text.split())
            quoted = quoted if len(quoted) <= 160 else quoted[:157] + "…"
            print(f"[{number}] {citation.source_file} {citation.locator}: {quoted}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    auth = None
    if args.auth:
        user, colon, password = args.auth.partition(":")
        if not (colon and user and password):
            raise UserError("--auth must be USER:PASS, both non-empty (the value is not shown: it holds a password)")
        auth = (user, password)
    from assistant.ui import serve

    serve(_settings(args), host=args.host, port=args.port, auth=auth, uploads=not args.no_uploads)
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from assistant.api import run_eval

    report = run_eval(questions=args.questions, settings=_settings(args))
    print(json.dumps(report.to_dict(), ensure_ascii=False, indent=1) if args.json else report.render())
    return 0


def render_stats(stats: dict[str, Any]) -> str:
    """`career-assistant stats` as text."""
    lines = [
        f"store {stats['store']} · {stats['files']} files · model {stats['embedding_model']}"
        f" · updated {stats['updated']}",
        f"postings: {stats['postings']:,} (from {stats.get('rows', 0):,} rows: a row repeated exactly, or a board's"
        " job id listed again, is one posting)",
    ]
    for s in stats["sources"]:
        lines.append(
            f"  {s['source']:<10} {s['postings']:>6,} postings  {s['first'] or '?'} to {s['last'] or '?'}"
            f"  salary known {s['with_salary'] / s['postings']:.0%}"
            f"  skills known {s['with_skills'] / s['postings']:.0%}"
            f"  near-duplicates {s['near_duplicates']:,}"
        )
    lines.append(f"cities: {stats.get('city_count', 0)} · top: " + ", ".join(f"{c} {n:,}" for c, n in stats["cities"]))
    lines.append("role families: " + ", ".join(f"{r} {n:,}" for r, n in stats["roles"]))
    lines.append("top skills: " + ", ".join(f"{k} {n:,}" for k, n in stats["skills"]))
    lines.append(f"articles: {len(stats['articles'])}")
    for source_file, title, chunks in stats["articles"]:
        lines.append(f"  {source_file} · {chunks} chunks · {title}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="career-assistant",
        description="Evidence-based answers about tech jobs: skills in demand, pay, cities, repositioning.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens (to stderr)")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_store(p: argparse.ArgumentParser) -> None:
        p.add_argument("--store", help="store folder (default: ./vectorstore or $CAREER_ASSISTANT_STORE)")
        p.add_argument(
            "--embedding-model-name",
            choices=EMBEDDING_MODELS,
            help=f"which packaged embedding model (default: {Settings.embedding_model_name}; "
            "a model folder of your own: $CAREER_ASSISTANT_EMBEDDING_MODEL)",
        )
        p.add_argument(
            "--embedding-backend", choices=EMBEDDING_BACKENDS, help="how all-MiniLM-L6-v2 or a model folder runs"
        )
        p.add_argument(
            "--chroma-url",
            metavar="URL",
            help="keep the vectors on this Chroma server, http://HOST:PORT (default: $CAREER_ASSISTANT_CHROMA_URL, "
            "or embedded in the store folder); its token, if any, in $CAREER_ASSISTANT_CHROMA_TOKEN",
        )

    p = sub.add_parser(
        "ingest",
        help="add postings (.csv .tsv .json .jsonl .xlsx) and articles (.txt .md .html .pdf) to the store",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="*", help="files or folders (folders are read recursively)")
    p.add_argument("--bundled", action="store_true", help="also ingest the corpus that ships with the package")
    with_store(p)
    p.add_argument("--columns", help="map fields to headers: title=职位,city=城市,salary=薪资,...")
    p.add_argument("--columns-file", help="the same mapping as a JSON file")
    p.add_argument("--source", help="name of the job board for files in an unknown layout")
    p.add_argument("--scrape-date", help="YYYY-MM-DD the files were scraped (resolves 今天/昨天 dates)")
    p.add_argument("--encoding", help="text encoding of the files given (default: UTF-8 or GB18030, told apart)")
    p.add_argument(
        "--pay-period",
        choices=("month", "year", "day"),
        help="what pay written as plain numbers (15000; 最低月薪/最高月薪 columns) is per (default: month)",
    )
    p.add_argument("--follow-symlinks", action="store_true", help="read files through symbolic links (yours only)")
    p.add_argument("--prune", action="store_true", help="remove records of files that no longer exist")
    p.add_argument("--rebuild", action="store_true", help="start a new store instead of updating the current one")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.add_argument("--json", action="store_true", help="print the report as JSON (files with status and reason)")
    p.set_defaults(func=_cmd_ingest)

    p = sub.add_parser("ask", help="answer a question about skills, pay, cities or moving into AI roles")
    p.add_argument("question", help='e.g. "What do NLP engineers earn in Beijing?" or "深圳大模型岗位要求哪些技能？"')
    with_store(p)
    p.add_argument("--json", action="store_true", help='print {"answer", "citations", "figures", "language"}')
    p.add_argument("--llm", metavar="MODEL", help=LLM_HELP)
    p.set_defaults(func=_cmd_ask)

    p = sub.add_parser("serve", help="the chat UI and its HTTP API (http://127.0.0.1:7860 by default)")
    with_store(p)
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default: %(default)s, this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default: %(default)s)")
    p.add_argument("--no-uploads", action="store_true", help="do not let visitors add files to the store")
    p.add_argument("--auth", metavar="USER:PASS", help="require this login to open the page or call the API")
    p.add_argument("--llm", metavar="MODEL", help=LLM_HELP)
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("eval", help="measure the answers on a question set with independently computed answers")
    with_store(p)
    p.add_argument("--questions", default="eval/questions.jsonl", help="JSON lines question set (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print the metrics and every question's result as JSON")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("check", help="verify that the store's table, vectors and manifest agree (--repair rebuilds)")
    with_store(p)
    p.add_argument("--repair", action="store_true", help="if anything is wrong, rebuild from the manifest's files")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("stats", help="what the store holds")
    with_store(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_stats)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args))
    except CareerAssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: the store is unchanged", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
