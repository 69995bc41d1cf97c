"""The one error type of verify: whatever stops a measurement, said so a person can act on it."""


class CouldNotMeasure(Exception):
    """Bad URL or arguments, a name that does not resolve, nothing answering in time (exit 2).

    `str(error)` is the one-line reason the command prints after `verify: `.
    """
