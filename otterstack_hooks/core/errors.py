"""One exception type for every error a user can act on.

Anything raised as OtterError is shown as a single clear line (what is wrong, what to do) and
never as a traceback; anything else is a bug and is reported as such.
"""


class OtterError(Exception):
    """A failure the user can fix; the message says what is wrong and what to do."""
