"""The one exception type for mistakes a user can fix (bad file, flag or value).

The CLI prints its message as one line and exits with status 2; library callers can catch it.
Messages name the file, field or argument and what was expected.
"""


class UserError(Exception):
    """A problem with the user's input: the message says what and where."""
