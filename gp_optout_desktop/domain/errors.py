"""One exception type for every rule a user can break; the message is shown as is."""


class ValidationError(ValueError):
    """Input that breaks a domain rule. ``str(err)`` is a sentence fit for a user."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class ValidationProblems(ValidationError):
    """Several fields wrong at once: ``problems`` maps each field to its sentence, in form
    order; the error itself reads as the first, so callers that show one still work."""

    def __init__(self, problems: dict[str, str]):
        first = next(iter(problems))
        super().__init__(problems[first], first)
        self.problems = dict(problems)
