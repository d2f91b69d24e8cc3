"""The exception types for mistakes a user can fix (bad file, option or value).

The CLI prints its message as one line and exits with status 2; library callers can catch it.
Messages name the file, field or argument and what was expected. An error about an option of a
run (:class:`SpecError`) names the option by its spec field; the CLI shows that as its flag.
"""

import re
from collections.abc import Callable


class UserError(Exception):
    """A problem with the user's input: the message says what and where."""


class SpecError(UserError):
    """An option of a spec has a bad value (or a run cannot use it).

    Attributes:
        field: the spec field (``iters``); the CLI shows it as its flag (``--iters``).
        problem: what is wrong, e.g. ``must be >= 1, got 0``; other options it mentions are written
            in backticks (``use another `workspace` ``), which the CLI shows as flags too.
    """

    def __init__(self, field: str, problem: str):
        self.field = field
        self.problem = problem
        super().__init__(self.render(lambda name: name))

    def render(self, name_of: Callable[[str], str]) -> str:
        """The message with every option named by ``name_of`` (the CLI: ``iters`` -> ``--iters``)."""
        problem = re.sub(r"`(\w+)`", lambda m: name_of(m.group(1)), self.problem)
        return f"{name_of(self.field)} {problem}"
