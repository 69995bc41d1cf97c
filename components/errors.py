"""The one error type for bad settings, raised by the settings module and by every component."""

from __future__ import annotations


class SettingsError(ValueError):
    """A setting has a value that AWS, Pulumi or this program cannot use.

    The message names the setting, the bad value and what is allowed, so that `__main__.py` and
    the rehearsal can print it as it is, without a traceback. A component names the option in its
    own words, `argument` (e.g. "az_count"); `settings.in_stack_keys` rewords it as the stack key
    a user sets (e.g. "azCount").
    """

    def __init__(self, problem: str, *, argument: str | None = None) -> None:
        super().__init__(f"{argument}: {problem}" if argument else problem)
        self.argument = argument
        self.problem = problem

    def one_line(self) -> str:
        """The message on one line, for a command-line tool: a heading ("invalid stack settings:") and
        its problems, one per line, become the heading and the problems joined by '; '."""
        heading, *problems = str(self).splitlines()
        return " ".join([heading, "; ".join(problem.strip() for problem in problems)]).strip()


# How much of a bad value a refusal echoes: a 5,000-digit deploymentStrategy was echoed whole.
SHOWN_MAX = 60


def shown(value: object) -> str:
    """A value as a refusal quotes it: its repr, cut to SHOWN_MAX characters saying how long it was."""
    text = repr(value)
    if len(text) <= SHOWN_MAX:
        return text
    length = f"{len(value):,} characters" if isinstance(value, str) else f"{len(text):,} characters written out"
    return f"{text[:SHOWN_MAX]}... ({length})"
