"""The exception tree: a user's mistake is not the same thing as a runtime failure.

Every message says what was expected, what was found, and what to do about it.
"""

from __future__ import annotations


class CareerAssistantError(Exception):
    """Base class of every error this project raises on purpose."""


class UserError(CareerAssistantError):
    """The user asked for something that cannot work: a bad file, flag, path or store."""


class InputFileError(UserError):
    """One input file cannot be read or understood; the other files still go in."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class StoreMismatchError(UserError):
    """The store was built with another embedding model or schema than the one configured."""


class StoreLockedError(UserError):
    """Another process is writing the store."""

    def __init__(self, store: str, pid: int | None) -> None:
        who = f"PID {pid}" if pid else "another process"
        super().__init__(
            f"store {store} is in use by {who} (an ingest is running). "
            "Hint: wait for it to finish, or pass --store to write another store."
        )
        self.pid = pid


class StoreMissingError(UserError):
    """The store folder does not exist or holds no built store."""


class RuntimeFailure(CareerAssistantError):
    """Something that should work failed: a damaged store, a server that is down."""


class DiskFullError(RuntimeFailure):
    """The disk holding the store filled up while an ingest wrote its new generation."""

    def __init__(self, store: str) -> None:
        super().__init__(
            f"no space left on the device holding the store {store}; the ingest stopped and the store is as it "
            "was (the new data goes into a copy until it is complete). Hint: free some space (an ingest needs "
            "room for a second copy of the postings table and the vectors), or pass --store on a larger disk."
        )
