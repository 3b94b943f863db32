"""Errors the user can fix. The CLI prints them as one line and exits with code 2."""


class UserError(Exception):
    """Bad input: a config, data file or model folder the user gave us is wrong.

    The message must name the file, line or field at fault; it is shown without a traceback.
    """


class NonFiniteError(UserError):
    """A NaN or an infinity in a loss, a gradient or a model's weights: nothing computed from it is
    trusted, and the stage it happened in is not marked done (the message names where and when)."""
