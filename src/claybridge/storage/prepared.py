"""Prepared statements for the ingest hot path: compiled once, run on the DBAPI cursor.

Why: executing a Core statement through ``Connection.execute`` costs 60-80 µs of
Python per call (cache-key generation, execution context, result metadata) against
about 10 µs for the same SQL on the driver's cursor; on the ingest path that was most
of the per-row cost. A :class:`Prepared` statement is compiled by SQLAlchemy once per
dialect and reuses SQLAlchemy's own bind and result processors, so values convert
exactly as with ``Connection.execute`` (UTC datetimes, decimals, JSON), and it runs on
the connection's DBAPI cursor, inside the caller's transaction.

Use it only where a benchmark shows it matters; everything else uses Core as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # bind names, in order for positional paramstyles
    positional: bool
    binds: tuple[tuple[str, Processor], ...]
    # Result processors need the driver's column type codes (cursor.description), so
    # they are built on the first execution that returns rows.
    results: list[tuple[str, Processor]]


def _wrapped(conn: sa.Connection, sql: str, params: Any, exc: Exception) -> sa.exc.DBAPIError:
    """The driver's error as SQLAlchemy would have raised it (``IntegrityError``, …), so
    callers handle one family of storage errors whichever path ran the statement."""
    wrapped = sa.exc.DBAPIError.instance(
        sql, params, exc, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect
    )
    assert isinstance(wrapped, sa.exc.DBAPIError)  # exc is a DBAPI error, so it is wrapped
    return wrapped


class Prepared:
    """``statement`` compiled for the parameter keys ``keys``, per dialect, on first use."""

    def __init__(
        self,
        statement: sa.ClauseElement,
        keys: Sequence[str],
        returning: Sequence[sa.Column[Any]] = (),
    ) -> None:
        self._statement = statement
        self._keys = list(keys)
        self._returning = tuple(returning)
        self._by_dialect: dict[str, _Compiled] = {}

    def _compiled(self, dialect: sa.Dialect) -> _Compiled:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            compiled = self._statement.compile(dialect=dialect, column_keys=self._keys)
            assert isinstance(compiled, SQLCompiler)
            binds = compiled.binds
            names = tuple(compiled.positiontup or ()) if dialect.positional else tuple(binds)
            found = _Compiled(
                sql=compiled.string,
                names=names,
                positional=dialect.positional,
                binds=tuple(
                    (name, binds[name].type.dialect_impl(dialect).bind_processor(dialect))
                    for name in (names if dialect.positional else binds)
                ),
                results=[],
            )
            self._by_dialect[dialect.name] = found
        return found

    def _bind(self, compiled: _Compiled, params: dict[str, Any]) -> Any:
        # NULL needs no conversion: skip the processor call for None (a third of values).
        if compiled.positional:
            return [v if (v := params[n]) is None or p is None else p(v) for n, p in compiled.binds]
        return {
            n: (v if (v := params[n]) is None or p is None else p(v)) for n, p in compiled.binds
        }

    def execute(self, conn: sa.Connection, params: dict[str, Any]) -> dict[str, Any] | None:
        """Run once; returns the first ``returning`` row as a dict, if any."""
        compiled = self._compiled(conn.dialect)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            bound = self._bind(compiled, params)
            try:
                cursor.execute(compiled.sql, bound)
            except conn.dialect.loaded_dbapi.Error as exc:
                raise _wrapped(conn, compiled.sql, bound, exc) from exc
            if not self._returning:
                return None
            row = cursor.fetchone()
            if not compiled.results and cursor.description:
                dialect = conn.dialect
                # Slice assignment: idempotent if two threads get here at once.
                compiled.results[:] = [
                    (col.key, col.type.dialect_impl(dialect).result_processor(dialect, desc[1]))
                    for col, desc in zip(self._returning, cursor.description, strict=True)
                ]
        finally:
            cursor.close()
        if row is None:
            return None
        return {
            key: (value if value is None or proc is None else proc(value))
            for (key, proc), value in zip(compiled.results, row, strict=True)
        }

    def execute_many(self, conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
        """Run once per row with the driver's ``executemany`` (no ``returning``)."""
        compiled = self._compiled(conn.dialect)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            bound = [self._bind(compiled, r) for r in rows]
            try:
                cursor.executemany(compiled.sql, bound)
            except conn.dialect.loaded_dbapi.Error as exc:
                raise _wrapped(conn, compiled.sql, bound, exc) from exc
        finally:
            cursor.close()
