"""career-assistant: evidence-based answers about AI-era tech jobs.

Nothing heavy happens at import time: `CareerAssistant` is imported on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["CareerAssistant", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "CareerAssistant":
        from assistant.api import CareerAssistant

        return CareerAssistant
    raise AttributeError(f"module 'assistant' has no attribute {name!r}")
