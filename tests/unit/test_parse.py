"""Reading request bodies (pure, no server)."""

from __future__ import annotations

import pytest

from claybridge.errors import InvalidBody, InvalidField
from claybridge.ingest.parse import MAX_DEPTH, parse_object


def test_parses_an_object() -> None:
    """A JSON object parses to a dict."""
    assert parse_object(b'{"name": "Acme"}') == ({"name": "Acme"}, False)


def test_accepts_raw_control_characters_inside_strings() -> None:
    """A raw line break from a multi-line Clay cell is kept, not refused."""
    assert parse_object(b'{"notes": "line one\nline two\ttab"}')[0] == {
        "notes": "line one\nline two\ttab"
    }


def test_last_duplicate_key_wins() -> None:
    """Duplicate keys resolve to the last value, as documented."""
    assert parse_object(b'{"a": 1, "a": 2}')[0] == {"a": 2}


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", "invalid_json"),
        (b"not json", "invalid_json"),
        (b'{"a": }', "invalid_json"),
        (b"[1, 2]", "invalid_body"),
        (b'"text"', "invalid_body"),
        (b"null", "invalid_body"),
        (b'{"a": "\xff"}', "invalid_json"),
    ],
)
def test_refuses_what_is_not_an_object(raw: bytes, code: str) -> None:
    """Empty, malformed, non-object and non-UTF-8 bodies are refused with a 400 code."""
    with pytest.raises(InvalidBody) as info:
        parse_object(raw)
    assert info.value.code == code
    assert info.value.status_code == 400


def test_refuses_deep_nesting() -> None:
    """Bodies nested deeper than the limit are refused."""
    deep = b'{"a": ' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1)
    with pytest.raises(InvalidBody, match="deeper"):
        parse_object(deep)


def test_reports_secret_named_keys_at_any_depth() -> None:
    """The parse walk also says whether the body has keys to redact."""
    assert parse_object(b'{"a": [{"api_key": "k"}]}')[1] is True
    assert parse_object(b'{"a": [{"b": "c"}]}')[1] is False


def test_flat_rows_report_secret_keys_too() -> None:
    """A flat row (the shortcut without a walk) still reports secret-named keys."""
    assert parse_object(b'{"name": "Acme", "API_Key": "k"}')[1] is True
    assert parse_object(b'{"name": "Acme", "notes": "a {brace} and a token word"}')[1] is False
    assert parse_object(b'{"name": "Acme {x}", "nested": {"password": "p"}}')[1] is True


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"a": 18446744073709551616}', "a"),
        (b'{"a": [1, {"b": -9223372036854775809}]}', "a.1.b"),
        (b'{"a": "x\\u0000"}', "a"),
        (b'{"k\\u0000": 1}', "k\\u0000"),
        (b'{"a": "\\udfff"}', "a"),
        (b'{"a": 1e400}', "a"),
    ],
)
def test_values_no_database_can_store_are_refused_by_path(raw: bytes, field: str) -> None:
    """Integers beyond 64 bits, NULs, lone surrogates and overflowing numbers are 422
    naming their path (printable even when the key holds the NUL)."""
    with pytest.raises(InvalidField) as info:
        parse_object(raw)
    assert info.value.field == field
    assert info.value.status_code == 422


def test_exact_values_and_a_utf8_bom_are_kept() -> None:
    """The largest 64-bit integers and large floats pass as they are; a UTF-8 BOM is
    skipped."""
    raw = b'{"u": 18446744073709551615, "i": -9223372036854775808, "f": 1e20}'
    assert parse_object(raw)[0] == {"u": 2**64 - 1, "i": -(2**63), "f": 1e20}
    assert parse_object(b'\xef\xbb\xbf{"a": 1}')[0] == {"a": 1}
