"""Form input checked by a pydantic model, with messages meant for people, keyed by field."""

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from baselines.errors import DomainError, FieldErrors, Problems

M = TypeVar("M", bound=BaseModel)


def _message(error: dict[str, Any]) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "missing":
        return "Required."
    if kind == "string_too_short":
        return (
            "Required."
            if ctx.get("min_length") == 1
            else f"Use at least {ctx['min_length']} characters."
        )
    if kind == "string_too_long":
        return f"Use at most {ctx['max_length']} characters."
    if kind == "value_error":
        message = str(error["msg"]).removeprefix("Value error, ")
        if "email address" in message:
            return "Enter a valid email address."
        return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")
    if kind in ("int_parsing", "int_type"):
        return "Enter a whole number."
    return str(error["msg"])


def parse(model: type[M], data: dict[str, Any]) -> tuple[M | None, dict[str, str]]:
    """The validated model, or None and one message per field at fault."""
    try:
        return model.model_validate(data), {}
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "__all__"
            errors.setdefault(field, _message(error))
        return None, errors


def partial(model: type[M], data: dict[str, Any], errors: dict[str, str]) -> M:
    """The model built unchecked from the fields that passed (defaults for the rest), so the
    checks that come after validation can still report on them when another field failed."""
    fields = model.model_fields
    return model.model_construct(
        **{k: v for k, v in data.items() if k in fields and k not in errors}
    )


def field_error(exc: DomainError) -> dict[str, str]:
    """Every field's message an error carries (one, or several from a FieldErrors)."""
    if isinstance(exc, FieldErrors):
        return dict(exc.errors)
    return {exc.field or "__all__": exc.message}


__all__ = ["Problems", "checkbox", "clean", "field_error", "parse", "partial", "text_fields"]


def clean(value: str) -> str:
    """Text without NUL characters, which no person types and PostgreSQL refuses to store."""
    return value.replace("\x00", "")


def text_fields(form: FormData, *names: str) -> dict[str, str]:
    """Plain text values of the named fields ('' when absent; uploads are ignored)."""
    values: dict[str, str] = {}
    for name in names:
        value = form.get(name)
        values[name] = clean(value) if isinstance(value, str) else ""
    return values


def checkbox(form: FormData, name: str) -> bool:
    return form.get(name) in ("on", "true", "1", "yes")
