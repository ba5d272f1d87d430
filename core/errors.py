"""The errors lamina reports to its callers.

Messages are lower-case, without a trailing period, and carry their context. Clients match some
of the wording (`does not exist`, `container not running`), so those texts are fixed here.
"""

from __future__ import annotations


class LaminaError(Exception):
    """An error the CLI prints as one line and turns into an exit code."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(LaminaError):
    """One or more problems in config.json, each naming its field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems) if problems else "invalid config.json")


class ContainerNotFound(LaminaError):
    def __init__(self, cid: str) -> None:
        super().__init__(f"container {cid} does not exist")


class ContainerNotRunning(LaminaError):
    def __init__(self, cid: str, status: str = "") -> None:
        super().__init__(f"container not running: {cid}" + (f" is {status}" if status else ""))
