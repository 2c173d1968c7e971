"""Reading rows to push from CSV or JSONL files. Pure apart from reading the file.

Every row comes with its line number; a bad row (malformed CSV, a wrong number of
fields, a JSONL line that is not a JSON object, a missing request id) is reported with
its line and the reason, and reading goes on with the next one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from claybridge.core.clay_rules import content_id


@dataclass(frozen=True, slots=True)
class FileRow:
    """A row read from the file, with its request id."""

    line: int
    data: dict[str, Any]
    request_id: str


@dataclass(frozen=True, slots=True)
class BadRow:
    """A line that could not be used, and why."""

    line: int
    reason: str


def _request_id(data: dict[str, Any], column: str | None) -> str | None:
    if column is None:
        return content_id(data)
    value = data.get(column)
    text = str(value).strip() if value is not None else ""
    return text[:255] or None


def read_rows(path: Path, request_id_column: str | None = None) -> Iterator[FileRow | BadRow]:
    """Rows of a ``.csv`` or ``.jsonl``/``.ndjson`` file (by extension; CSV otherwise)."""
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        yield from _jsonl(path, request_id_column)
    else:
        yield from _csv(path, request_id_column)


def _jsonl(path: Path, column: str | None) -> Iterator[FileRow | BadRow]:
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                yield BadRow(number, f"not valid JSON: {exc}")
                continue
            if not isinstance(data, dict):
                yield BadRow(number, "not a JSON object")
                continue
            yield _with_id(number, data, column)


def _with_id(number: int, data: dict[str, Any], column: str | None) -> FileRow | BadRow:
    request_id = _request_id(data, column)
    if request_id is None:
        return BadRow(number, f"no value in the request id column {column!r}")
    return FileRow(number, data, request_id)


def _csv(path: Path, column: str | None) -> Iterator[FileRow | BadRow]:
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        yield BadRow(1, f"invalid CSV header: {exc}")
        return
    if column is not None and column not in header:
        yield BadRow(1, f"no column {column!r} in the header ({', '.join(header)})")
        return
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield BadRow(start, f"invalid CSV: {exc}")
            continue
        if not any(f.strip() for f in fields):
            continue
        if len(fields) != len(header):
            yield BadRow(start, f"expected {len(header)} fields, found {len(fields)}")
            continue
        yield _with_id(start, dict(zip(header, fields, strict=True)), column)
