"""The one error type library code raises; the CLI turns it into a message and an exit code."""


class LrtoolError(Exception):
    """Bad usage, bad config or bad input: the CLI prints the message on one line and exits 2."""

    exit_code = 2


class RunFailed(LrtoolError):
    """The run itself failed or diverged after it started: exit code 1."""

    exit_code = 1
