"""`--llm` values: each form makes the chat model it names, and a value in none of them says what would work.
(Hosted providers are outside: only what is built, never a call, is checked here.)"""

from __future__ import annotations

import pytest

from assistant.config import Settings
from assistant.errors import UserError
from assistant.llm import chat_model_from_spec


def test_an_openai_compatible_server_by_url() -> None:
    model = chat_model_from_spec("qwen2.5-7b-instruct@http://10.0.0.5:8000/v1", max_tokens=321, timeout_s=9)
    assert type(model).__name__ == "ChatOpenAI"
    assert model.model_name == "qwen2.5-7b-instruct" and model.openai_api_base == "http://10.0.0.5:8000/v1"
    assert model.extra_body == {"max_tokens": 321}  # the server reads max_tokens, not max_completion_tokens


def test_a_key_for_a_compatible_server_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAREER_ASSISTANT_LLM_API_KEY", "sk-test")
    model = chat_model_from_spec("deepseek-chat@https://api.deepseek.com/v1")
    assert model.openai_api_key.get_secret_value() == "sk-test"


def test_ollama_by_name_and_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "192.168.1.9:11434")
    model = chat_model_from_spec("ollama:qwen2.5:7b", max_tokens=99)
    assert type(model).__name__ == "ChatOllama"
    assert (model.model, model.base_url, model.num_predict) == ("qwen2.5:7b", "http://192.168.1.9:11434", 99)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("gpt-4o", "is not a chat model; use one of: ollama:MODEL"),
        ("@http://127.0.0.1:8080/v1", "name the model before the @"),
        ("mistral:large", "unknown provider 'mistral'"),
        ("openai:gpt-4o-mini", "needs OPENAI_API_KEY"),
        ("anthropic:claude-sonnet", "needs ANTHROPIC_API_KEY"),
    ],
)
def test_values_that_cannot_work_say_why(spec: str, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(UserError, match=message):
        chat_model_from_spec(spec)


def test_the_setting_comes_from_the_environment() -> None:
    settings = Settings.from_env({"CAREER_ASSISTANT_LLM": "ollama:qwen2.5", "CAREER_ASSISTANT_LLM_MAX_TOKENS": "200"})
    assert (settings.llm, settings.llm_max_tokens) == ("ollama:qwen2.5", 200)
    with pytest.raises(UserError, match="llm_max_tokens must be positive"):
        Settings(llm_max_tokens=0)
