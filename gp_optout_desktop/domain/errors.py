"""One exception type for every rule a user can break; the message is shown as is."""


class ValidationError(ValueError):
    """Input that breaks a domain rule. ``str(err)`` is a sentence fit for a user."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field
