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


class FieldErrors(DomainError):
    """Several inputs at fault at once, one message each, so a form can show them all together
    rather than one per attempt. ``message`` and ``field`` are the first, for callers that read
    only one."""

    def __init__(self, errors: dict[str, str]) -> None:
        field, message = next(iter(errors.items()))
        super().__init__(message, field=field)
        self.errors = dict(errors)


class Problems:
    """Collects one message per field across a form's checks; ``raise_any`` raises them together
    (a FieldErrors), so no check stops the ones after it from being reported."""

    def __init__(self, errors: dict[str, str] | None = None) -> None:
        self.errors: dict[str, str] = dict(errors or {})

    def __bool__(self) -> bool:
        return bool(self.errors)

    def add(self, field: str, message: str) -> None:
        """The first message for a field is kept: it comes from the most basic check."""
        self.errors.setdefault(field, message)

    def update(self, errors: dict[str, str]) -> None:
        for field, message in errors.items():
            self.add(field, message)

    def add_error(self, exc: DomainError) -> None:
        """Record a field's error; an error about no field in particular is not ours to keep."""
        if isinstance(exc, FieldErrors):
            self.update(exc.errors)
        elif exc.field is None:
            raise exc
        else:
            self.add(exc.field, exc.message)

    def check(self, step, *args, **kwargs):
        """``step(*args, **kwargs)``'s value, or None with its field error recorded."""
        try:
            return step(*args, **kwargs)
        except DomainError as exc:
            self.add_error(exc)
            return None

    def raise_any(self) -> None:
        if self.errors:
            raise FieldErrors(self.errors)
