"""career-assistant: evidence-based answers about AI-era tech jobs.

Nothing heavy happens at import time.
"""

from __future__ import annotations

__version__ = "0.1.0"
