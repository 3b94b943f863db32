"""Errors the user can fix. The CLI prints them as one line and exits with code 2."""


class UserError(Exception):
    """Bad input: a config, data file or model folder the user gave us is wrong.

    The message must name the file, line or field at fault; it is shown without a traceback.
    """


class NonFiniteError(UserError):
    """A NaN or an infinity in a loss, a gradient or a model's weights: nothing computed from it is
    trusted, and the stage it happened in is not marked done (the message names where and when)."""


class Problems(UserError):
    """Every problem found in one input (a config's fields, the files it names), one line each: the
    CLI prints one `error:` line per problem, so a config is fixed in one round."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))
