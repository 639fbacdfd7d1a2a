"""Errors the domain raises for the web layer to turn into a 4xx with a message next to a field."""


class DomainError(Exception):
    """A request that cannot be carried out as asked. ``field`` names the input at fault, if any."""

    status_code = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    """The object is not in a state that allows this change (approving twice, a taken email)."""

    status_code = 409
