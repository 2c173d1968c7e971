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
from datetime import date
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any] | None


def _getter(names: Sequence[str]) -> Callable[[Any], tuple[Any, ...]]:
    """``names``' values of a mapping, as a tuple, in one C call (even for one name)."""
    if len(names) == 1:
        one = itemgetter(names[0])
        return lambda mapping: (one(mapping),)
    return itemgetter(*names)


def bind_processor(type_: sa.types.TypeEngine[Any], dialect: sa.Dialect) -> Processor:
    """SQLAlchemy's bind processor for ``type_``, except for dates on SQLite: the text
    SQLAlchemy stores there (``%(year)04d-%(month)02d-%(day)02d``) is what
    ``date.isoformat`` makes in C, at a fraction of the cost of the formatting chain."""
    impl = type_.dialect_impl(dialect)
    processor = impl.bind_processor(dialect)
    if dialect.name != "sqlite" or processor is None or not isinstance(impl, sa.Date):
        return processor
    slow = processor

    def process(value: Any) -> Any:
        return value.isoformat() if type(value) is date else slow(value)

    return process


def _with_fixed(
    getter: Callable[[Any], tuple[Any, ...]], fixed: dict[str, Any]
) -> Callable[[Any], tuple[Any, ...]]:
    """``getter`` over the parameters with the statement's own fixed values added."""
    return lambda params: getter({**fixed, **params})


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # bind names, in order for positional paramstyles
    positional: bool
    values: Callable[[Any], tuple[Any, ...]]  # params -> bind values, in ``names`` order
    # Only the binds that convert (most columns are text that goes as is): index, processor.
    convert: tuple[tuple[int, Callable[[Any], Any]], ...]
    # Result columns: keys, and the columns that convert. Result processors need the
    # driver's column type codes (cursor.description), so they are set on the first
    # execution that returns rows.
    results: list[Any]
    # The ``IN`` list bind (``bindparam(..., expanding=True)``), if any: its index in
    # ``names`` (positional), or its name (named: PostgreSQL reads it as ``= ANY(array)``).
    expanding: int | None = None


_POSTCOMPILE = "(__[POSTCOMPILE_{}])"


def _in_list(
    compiled: _Compiled, values: list[Any], cache: dict[int, str]
) -> tuple[str, list[Any]]:
    """The SQL and flat values for the positional ``IN`` list at ``compiled.expanding``.

    The list is padded with its last value to a power of two: an ``IN`` list means the
    same with a value repeated, and a handful of distinct statements then fill the
    driver's statement cache instead of one per list length.
    """
    index = compiled.expanding
    assert index is not None
    items = list(values[index])
    size = 1 << (len(items) - 1).bit_length()
    items.extend(items[-1:] * (size - len(items)))
    sql = cache.get(size)
    if sql is None:
        name = compiled.names[index]
        sql = cache[size] = compiled.sql.replace(
            _POSTCOMPILE.format(name), "(" + ", ".join(["?"] * size) + ")"
        )
    return sql, [*values[:index], *items, *values[index + 1 :]]


def driver_error(conn: sa.Connection, sql: str, params: Any, exc: Exception) -> sa.exc.DBAPIError:
    """The driver's error as SQLAlchemy would have raised it (``IntegrityError``, …), so
    callers handle one family of storage errors whichever path ran the statement."""
    wrapped = sa.exc.DBAPIError.instance(
        sql, params, exc, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect
    )
    assert isinstance(wrapped, sa.exc.DBAPIError)  # exc is a DBAPI error, so it is wrapped
    return wrapped


def _compile(statement: sa.ClauseElement, keys: list[str], dialect: sa.Dialect) -> _Compiled:
    """``statement`` compiled by SQLAlchemy for ``dialect`` and the parameter ``keys``,
    with its bind processors looked up once."""
    compiled = statement.compile(dialect=dialect, column_keys=keys)
    assert isinstance(compiled, SQLCompiler)
    binds = compiled.binds
    names = tuple(compiled.positiontup or ()) if dialect.positional else tuple(binds)
    processors = [bind_processor(binds[name].type, dialect) for name in names]
    # Binds the statement fixes itself (a LIMIT, a literal compared with) keep their
    # value; the others come from the parameters.
    fixed = {n: binds[n].effective_value for n in names if n not in keys}
    expanding = _expanding(compiled, names, processors)
    sql = compiled.string
    if expanding is not None and not dialect.positional:
        name = names[expanding]
        sql = sql.replace(f"IN {_POSTCOMPILE.format(name)}", f"= ANY(%({name})s)")
    return _Compiled(
        sql=sql,
        names=names,
        positional=dialect.positional,
        values=_getter(names) if not fixed else _with_fixed(_getter(names), fixed),
        convert=tuple((i, p) for i, p in enumerate(processors) if p is not None),
        results=[],
        expanding=expanding,
    )


def _expanding(
    compiled: SQLCompiler, names: tuple[str, ...], processors: list[Processor]
) -> int | None:
    """The index of the statement's one ``IN`` list bind, if it has one."""
    found = [i for i, n in enumerate(names) if compiled.binds[n].expanding]
    if len(found) > 1 or (found and processors[found[0]] is not None):
        raise ValueError("Prepared takes one IN list, of values that need no conversion")
    return found[0] if found else None


class Prepared:
    """``statement`` compiled for the parameter keys ``keys``, per dialect, on first use."""

    def __init__(
        self,
        statement: sa.ClauseElement,
        keys: Sequence[str],
        returning: Sequence[sa.ColumnClause[Any]] = (),
        *,
        write_order: int = 1,
    ) -> None:
        # Deferred writes run in ascending ``write_order`` (records before the rows that
        # point at them, such as events at customers); see ``ingest.committer``.
        self.write_order = write_order
        self._statement = statement
        self._keys = list(keys)
        self._returning = tuple(returning)
        self._by_dialect: dict[str, _Compiled] = {}
        # Rows per statement (multi_row) or values in the IN list -> SQL.
        self._multi_sql: dict[int, str] = {}

    def _compiled(self, dialect: sa.Dialect) -> _Compiled:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            found = self._by_dialect[dialect.name] = _compile(self._statement, self._keys, dialect)
        return found

    def _bind(self, compiled: _Compiled, params: dict[str, Any]) -> Any:
        values = list(compiled.values(params))
        for i, process in compiled.convert:
            value = values[i]
            if value is not None:  # NULL needs no conversion (a third of values)
                values[i] = process(value)
        return values if compiled.positional else dict(zip(compiled.names, values, strict=True))

    def execute(self, conn: sa.Connection, params: dict[str, Any]) -> dict[str, Any] | None:
        """Run once; returns the first ``returning`` row as a dict, if any."""
        rows = self._run(conn, params, many=False)
        return rows[0] if rows else None

    def all(self, conn: sa.Connection, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Run once; returns every ``returning`` row, as dicts."""
        return self._run(conn, params, many=True)

    def _run(self, conn: sa.Connection, params: dict[str, Any], many: bool) -> list[dict[str, Any]]:
        compiled = self._compiled(conn.dialect)
        bound = self._bind(compiled, params)
        sql = compiled.sql
        if compiled.expanding is not None:
            if not params[compiled.names[compiled.expanding]]:
                return []  # IN (): nothing matches
            if compiled.positional:
                sql, bound = _in_list(compiled, bound, self._multi_sql)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            try:
                cursor.execute(sql, bound)
            except conn.dialect.loaded_dbapi.Error as exc:
                raise driver_error(conn, sql, bound, exc) from exc
            if not self._returning:
                return []
            if many:
                rows = cursor.fetchall()
            else:
                first = cursor.fetchone()
                rows = [] if first is None else [first]
            if not compiled.results and cursor.description:
                self._learn_results(conn.dialect, compiled, cursor.description)
        finally:
            cursor.close()
        return self._records(compiled, rows) if rows else []

    def _learn_results(self, dialect: sa.Dialect, compiled: _Compiled, description: Any) -> None:
        """The result columns' keys and processors, from the driver's first description
        of them (result processors need its column type codes)."""
        processors = [
            col.type.dialect_impl(dialect).result_processor(dialect, desc[1])
            for col, desc in zip(self._returning, description, strict=True)
        ]
        # Slice assignment: idempotent if two threads get here at once.
        pairs = zip(self._returning, processors, strict=True)
        compiled.results[:] = [
            tuple(col.key for col in self._returning),
            tuple((col.key, p) for col, p in pairs if p is not None),
        ]

    @staticmethod
    def _records(compiled: _Compiled, rows: Sequence[Any]) -> list[dict[str, Any]]:
        """Driver rows as dicts, with each column converted as SQLAlchemy would."""
        keys, convert = compiled.results
        out = []
        for row in rows:
            record = dict(zip(keys, row, strict=True))
            for key, process in convert:
                value = record[key]
                if value is not None:
                    record[key] = process(value)
            out.append(record)
        return out

    def execute_many(self, conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
        """Run once per row with the driver's ``executemany`` (no ``returning``)."""
        compiled = self._compiled(conn.dialect)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            bound = [self._bind(compiled, r) for r in rows]
            try:
                cursor.executemany(compiled.sql, bound)
            except conn.dialect.loaded_dbapi.Error as exc:
                raise driver_error(conn, compiled.sql, bound, exc) from exc
        finally:
            cursor.close()

    def multi_row(self, conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> list[Bound]:
        """``rows`` for this single-row ``INSERT … VALUES (…) [ON CONFLICT …]`` as
        multi-row inserts, bound and ready to run on the driver's cursor
        (:func:`run_bound`): ``VALUES (…), (…)``, in chunks of a power of two rows, at
        most :data:`MULTI_ROW_MAX`. Rows are applied in order, so a later row's conflict
        sees an earlier one.

        Why: SQLite then inserts a chunk's rows in one step of one compiled statement,
        where ``executemany`` binds and steps the statement once per row; a batch's
        deferred rows are written this way on SQLite (see ``ingest.committer``). Needs
        positional binds (SQLite's ``?``); PostgreSQL keeps ``executemany``.
        """
        compiled = self._compiled(conn.dialect)
        head, _sep, rest = compiled.sql.partition(" VALUES (")
        group, closing, tail = rest.partition(")")  # the binds: "?, ?, …" (no parentheses)
        if not rest or not closing or not compiled.positional:
            raise ValueError("multi_row needs an INSERT … VALUES (…) with positional binds")
        group = f"({group})"
        out: list[Bound] = []
        start = 0
        while start < len(rows):
            # Chunks of 64, 32, 16, … rows: a handful of distinct statements per table,
            # so the driver's per-connection statement cache does not fill up with one
            # large compiled statement for every batch size (peak RSS in bench/ingest.py:
            # 127 MB with a statement per size, 114 MB with these).
            size = min(MULTI_ROW_MAX, 1 << ((len(rows) - start).bit_length() - 1))
            chunk = rows[start : start + size]
            start += size
            flat: list[Any] = []
            for row in chunk:
                flat.extend(self._bind(compiled, row))
            sql = self._multi_sql.get(len(chunk))
            if sql is None:
                values = ", ".join([group] * len(chunk))
                sql = self._multi_sql[len(chunk)] = f"{head} VALUES {values}{tail}"
            out.append(Bound(sql, flat))
        return out


# Most rows per multi-row insert (a power of two): SQLite builds before 3.32 allow 999
# bound values at most.
MULTI_ROW_MAX = 64


@dataclass(frozen=True, slots=True)
class Bound:
    """A statement and its bound values, to run on a driver cursor (:func:`run_bound`)."""

    sql: str
    params: list[Any]


def run_bound(conn: sa.Connection, statements: Sequence[Bound]) -> None:
    """Run bound statements in ``conn``'s transaction; driver errors come out as
    SQLAlchemy's (as from :meth:`Prepared.execute`)."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        for statement in statements:
            try:
                cursor.execute(statement.sql, statement.params)
            except conn.dialect.loaded_dbapi.Error as exc:
                raise driver_error(conn, statement.sql, statement.params, exc) from exc
    finally:
        cursor.close()
