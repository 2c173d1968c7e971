"""A Clay account row validated into a :class:`CustomerInput` (the ``upsert_customer`` action).

Pure: no I/O. The database half (owner resolution, the upsert) lives in
:mod:`claybridge.records.customers`.

Fields: ``name`` and ``websiteUrl`` are required; ``owner`` (display name),
``ownerEmail`` (wins over ``owner`` when both are sent), ``stage``, ``arr`` and
``renewalDate`` are optional, and an optional field that is missing or blank leaves
the stored value as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from claybridge.core import coerce
from claybridge.errors import InvalidField, MissingField

T = TypeVar("T")

MAX_TEXT = 1000


@dataclass(slots=True)
class CustomerInput:
    """A validated customer row. ``None`` in an optional field means "leave unchanged"."""

    name: str
    website_url: str
    domain: str
    owner_name: str | None = None
    owner_email: str | None = None
    stage: str | None = None
    arr: Decimal | None = None
    renewal_date: date | None = None


def _field(
    body: Mapping[str, Any], name: str, convert: Callable[..., T | None], *args: Any
) -> T | None:
    """``convert(value, *args)`` of the cell ``name``; a blank cell is ``None``."""
    value = body.get(name)
    if value is None or value == "":  # the common empty cell: skip the converter
        return None
    try:
        return convert(value, *args)
    except ValueError as exc:
        raise InvalidField(f"{name}: {exc}", field=name) from None


def _text_field(body: Mapping[str, Any], name: str) -> str | None:
    """The trimmed text of the cell ``name`` (at most :data:`MAX_TEXT` characters). The
    usual string cell is read inline: a row has four text fields, on the hot path."""
    value = body.get(name)
    text = (value.strip() or None) if type(value) is str else _field(body, name, coerce.text)
    if text is not None and len(text) > MAX_TEXT:
        raise InvalidField(f"{name}: longer than {MAX_TEXT} characters", field=name)
    return text


def parse_customer(body: Mapping[str, Any], *, date_order: str = "MDY") -> CustomerInput:
    """Validate ``body`` or raise :class:`MissingField` / :class:`InvalidField`.

    Required fields are checked first so that a row missing ``name`` is reported as
    such even when other fields are also bad.
    """
    name = _text_field(body, "name")
    if name is None:
        raise MissingField("name is required", field="name")
    website = _text_field(body, "websiteUrl")
    if website is None:
        raise MissingField("websiteUrl is required", field="websiteUrl")
    domain = _field(body, "websiteUrl", coerce.domain)
    assert domain is not None  # website is not blank, so domain() returned or raised
    return CustomerInput(
        name=name,
        website_url=website,
        domain=domain,
        owner_name=_text_field(body, "owner"),
        owner_email=_field(body, "ownerEmail", coerce.email),
        stage=_text_field(body, "stage"),
        arr=_field(body, "arr", coerce.money),
        renewal_date=_field(body, "renewalDate", coerce.calendar_date, date_order),
    )
