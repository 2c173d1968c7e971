"""Rendering destination templates in a sandbox. Pure: a template and a row in, text out.

Templates are Jinja2 run in its :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment`:
a template can read the row but not call into Python internals or change anything. A
template is compiled when it is saved, so a syntax error is refused then, with its line.

Variables: every top-level key of the row (``{{ first_name }}``), and ``row`` (the whole
row), ``event`` (the event name, if any) and ``source`` (the source name, if any). A
missing key renders as nothing (Clay leaves cells empty); ``tojson`` gives JSON.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson
from jinja2 import TemplateSyntaxError
from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from claybridge.errors import InvalidField

MAX_TEMPLATE = 20_000


class RenderError(Exception):
    """A template failed on a particular row (a permanent failure of that delivery)."""


def _tojson(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


@functools.lru_cache(maxsize=1)
def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(autoescape=False, keep_trailing_newline=False)
    env.filters["tojson"] = _tojson
    return env


@functools.lru_cache(maxsize=512)
def _compiled(source: str) -> Any:
    return _environment().from_string(source)


def check_template(source: str, *, field: str = "template") -> str:
    """Compile ``source``; raises :class:`InvalidField` (``invalid_template``) if it fails."""
    if len(source) > MAX_TEMPLATE:
        raise InvalidField(
            f"{field} is longer than {MAX_TEMPLATE} characters",
            field=field,
            code="invalid_template",
        )
    try:
        _compiled(source)
    except TemplateSyntaxError as exc:
        raise InvalidField(
            f"{field}: line {exc.lineno}: {exc.message}", field=field, code="invalid_template"
        ) from None
    return source


def render(
    source: str, row: dict[str, Any], *, event: str | None = None, origin: str | None = None
) -> str:
    """Render ``source`` for ``row``; raises :class:`RenderError` with the reason."""
    context = {
        key: value for key, value in row.items() if isinstance(key, str) and key.isidentifier()
    }
    context.update(row=row, event=event, source=origin)
    try:
        return str(_compiled(source).render(context))
    except TemplateError as exc:
        raise RenderError(f"the template failed: {exc}") from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise RenderError(f"the template failed: {exc!r}") from None
