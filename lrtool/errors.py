"""The one error type library code raises; the CLI turns it into a message and an exit code."""


class LrtoolError(Exception):
    """Bad usage, bad config or bad input: the CLI prints the message on one line and exits 2."""

    exit_code = 2


class RunFailed(LrtoolError):
    """The run itself failed or diverged after it started: exit code 1."""

    exit_code = 1


def one_line(err: BaseException, *, with_type: bool = False) -> str:
    """The exception's message collapsed onto one line (the CLI prints errors on one line).

    Args:
        err: the exception.
        with_type: put the exception's class name first ("OSError: ..."), for errors whose
            message alone does not say what went wrong.

    Returns:
        The message on one line; the class name alone when the message is empty.
    """
    text = " ".join(str(err).split())
    if not text:
        return type(err).__name__
    return f"{type(err).__name__}: {text}" if with_type else text
