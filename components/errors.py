"""The one error type for bad settings, raised by the settings module and by every component."""


class SettingsError(ValueError):
    """A setting has a value that AWS, Pulumi or this program cannot use.

    The message names the setting, the bad value and what is allowed, so that
    `__main__.py` and the rehearsal can print it as it is, without a traceback.
    """
