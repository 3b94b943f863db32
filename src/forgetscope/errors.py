"""Errors the user can fix. The CLI prints them as one line and exits with code 2."""


class UserError(Exception):
    """Bad input: a config, data file or model folder the user gave us is wrong.

    The message must name the file, line or field at fault; it is shown without a traceback.
    """
