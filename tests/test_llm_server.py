"""The LLM path against a real OpenAI-compatible server process (llama.cpp's, serving a tiny random-weight model,
see tiny_llm.py): replies stream token by token, a reply is shown only when every number in it is in the
findings, a reply with invented numbers is replaced by the assistant's own answer with a notice, a server that is
down gives the same fallback, and the page streams the reply in a real browser."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.config import Settings
from tests.tiny_llm import DIGIT_IDS, serving, write_model

pytestmark = pytest.mark.slow

QUESTION = "What do NLP engineers earn in Beijing?"
REPO = Path(__file__).resolve().parent.parent
EOS = 2


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, free_port: Callable[[], int]) -> Iterator[str]:
    model = write_model(tmp_path_factory.mktemp("tiny-llm") / "tiny.gguf")
    with serving(model, free_port()) as base:
        yield base


def _model(base: str, bias: dict[int, int], max_tokens: int = 48) -> Any:
    """The chat model `--llm tiny@URL` makes, with a logit bias pushing replies toward or away from digits."""
    from assistant.llm import chat_model_from_spec

    return chat_model_from_spec(f"tiny@{base}", max_tokens=max_tokens).bind(logit_bias=bias)


NO_DIGITS = {**{i: -100 for i in DIGIT_IDS}, EOS: -100}
ONLY_DIGITS = {**{i: 100 for i in DIGIT_IDS}, EOS: -100}


@pytest.fixture(scope="module")
def plain(bundled_store: tuple[Path, str]) -> Iterator[Any]:
    from assistant.api import CareerAssistant

    ca = CareerAssistant(settings=Settings(store=bundled_store[0]))
    try:
        yield ca
    finally:
        ca.close()


def test_a_reply_without_invented_numbers_streams_and_is_shown(server: str, bundled_store: tuple[Path, str],
                                                                plain: Any) -> None:  # fmt: skip
    from assistant.api import CareerAssistant
    from assistant.schema import Answer

    ca = CareerAssistant(settings=Settings(store=bundled_store[0]), chat_model=_model(server, NO_DIGITS))
    try:
        events = list(ca.stream_answer(QUESTION))
    finally:
        ca.close()
    *texts, answer = events
    assert isinstance(answer, Answer) and all(isinstance(t, str) for t in texts)
    assert len(texts) >= 10 and all(a != b and b.startswith(a) for a, b in zip(texts, texts[1:], strict=False))
    grounded = plain.ask(QUESTION)
    assert answer.notice == "" and answer.text == texts[-1].strip() and answer.text != grounded.text
    assert not re.search(r"\d", answer.text)
    assert answer.figures == grounded.figures and answer.citations == grounded.citations  # figures stay SQL's


def test_a_reply_with_invented_numbers_is_replaced_with_a_notice(server: str, bundled_store: tuple[Path, str],
                                                                 plain: Any) -> None:  # fmt: skip
    from assistant.api import CareerAssistant

    ca = CareerAssistant(settings=Settings(store=bundled_store[0]), chat_model=_model(server, ONLY_DIGITS))
    try:
        *texts, answer = list(ca.stream_answer(QUESTION))
        asked = ca.ask(QUESTION)
    finally:
        ca.close()
    assert texts and re.fullmatch(r"\d+", texts[-1].strip())  # what the model said: digits only
    grounded = plain.ask(QUESTION)
    for got in (answer, asked):
        assert got.text == grounded.text and "numbers that are not in the data" in got.notice


def test_the_cli_takes_a_model_and_never_shows_an_invented_number(
    server: str, plain: Any, bundled_store: tuple[Path, str]
) -> None:
    from assistant.llm import invented_numbers

    run = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "ask", QUESTION, "--json", "--store", str(bundled_store[0]),
         "--llm", f"tiny@{server}"],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    grounded = plain.ask(QUESTION)
    assert invented_numbers(got["answer"], grounded) == set()  # the unbiased reply, whatever it was
    assert got["notice"] or got["answer"] != grounded.text  # either the model's words or the reason they are not
    assert [f["value"] for f in got["figures"]] == [f.value for f in grounded.figures]


def test_a_server_that_is_down_gives_the_assistants_answer_with_a_notice(free_port: Callable[[], int],
                                                                         bundled_store: tuple[Path, str],
                                                                         plain: Any) -> None:  # fmt: skip
    from assistant.api import CareerAssistant

    settings = Settings(store=bundled_store[0], llm=f"tiny@http://127.0.0.1:{free_port()}/v1", llm_timeout_s=10)
    ca = CareerAssistant(settings=settings)
    try:
        answer = ca.ask(QUESTION)
    finally:
        ca.close()
    assert answer.text == plain.ask(QUESTION).text and answer.notice.startswith("The chat model did not answer")


def test_the_page_streams_the_models_reply(server: str, bundled_store: tuple[Path, str], browser: Any,
                                           free_port: Callable[[], int]) -> None:  # fmt: skip
    from assistant.api import CareerAssistant
    from assistant.ui import CSS, build_app

    ca = CareerAssistant(settings=Settings(store=bundled_store[0]), chat_model=_model(server, NO_DIGITS, 200))
    demo = build_app(ca, uploads=False)
    demo.queue()
    port = free_port()
    demo.launch(server_port=port, prevent_thread_lock=True, quiet=True, ssr_mode=False, css=CSS)
    try:
        page = browser.new_page()
        page.set_default_timeout(120_000)
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#question textarea")
        # Record every length the answer's bubble takes while it is written.
        page.evaluate("""() => { window.seen = new Set(); new MutationObserver(() => {
            const bot = [...document.querySelectorAll('#chat [data-testid="bot"]')].pop();
            if (bot) window.seen.add(bot.innerText.length); }).observe(document.body,
            {childList: true, subtree: true, characterData: true}); }""")
        page.fill("#question textarea", QUESTION)
        page.press("#question textarea", "Enter")
        page.wait_for_function("document.querySelector('#sources').innerText.includes('[1]')")
        shown = page.locator('#chat [data-testid="bot"]').last.inner_text()
        lengths = page.evaluate("[...window.seen]")
        page.close()
    finally:
        demo.close()
        ca.close()
    assert "ⓘ" not in shown and len(shown) > 40 and not re.search(r"\d", shown)
    assert len(lengths) >= 5, lengths  # the reply arrived in pieces, not at once
