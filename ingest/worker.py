"""An ingest in a process of its own, for a server: a file that crashes a parser, or a run that is stopped,
cannot take the answering process down. `CareerAssistant.add_files` starts it.

Reads one JSON request on stdin, {"paths": [...], "options": {IngestOptions fields}}, with the settings in
`CAREER_ASSISTANT_*` variables; prints {"report": IngestReport.to_state()} or {"error": "...", "kind": "..."}.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from assistant.config import Settings
from assistant.errors import CareerAssistantError


def main() -> int:
    from ingest.pipeline import IngestOptions, ingest

    try:
        request = json.loads(sys.stdin.read())
        settings = Settings.from_env()
        report = ingest([Path(p) for p in request["paths"]], settings, IngestOptions(**request.get("options", {})))
    except CareerAssistantError as exc:
        print(json.dumps({"error": str(exc), "kind": type(exc).__name__}, ensure_ascii=False))
        return 1
    print(json.dumps({"report": report.to_state()}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
