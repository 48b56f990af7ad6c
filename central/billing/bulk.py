"""Writing many rows fast, in the caller's transaction: PostgreSQL's COPY, SQLite's executemany at the driver.

A bill run writes about 11 rows per unit (a bill, its lines, a posting per line); through SQLAlchemy's
executemany each row costs more in parameter processing than in the database. Both paths here store values
exactly as SQLAlchemy would: on SQLite, decimals as numbers, times as naive UTC text, JSON as text.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, date, datetime
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncConnection

_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


@functools.lru_cache(maxsize=256)  # a run stamps every row of a chunk with the same few instants
def _sqlite_time(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime(_SQLITE_TIME)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _converters(table: Any, columns: list[str], sqlite: bool) -> list[tuple[int, Callable[[Any], Any], bool]]:
    """(position, converter, whether to convert each distinct value once) of the columns whose values the driver
    cannot take as they are."""
    found = []
    for index, name in enumerate(columns):
        kind = type(table.c[name].type).__name__
        if kind in ("JSON", "JSONB"):
            found.append((index, _json, False))
        elif sqlite and kind == "Numeric":
            found.append((index, str, False))  # a NUMERIC column stores the literal as a number, no float in between
        elif sqlite and kind == "DateTime":
            found.append((index, _sqlite_time, True))  # a chunk's rows share a few instants and dates
        elif sqlite and kind == "Date":
            found.append((index, date.isoformat, True))
    return found


def _convert(records: list[list[Any]], converters: list[tuple[int, Callable[[Any], Any], bool]]) -> None:
    """Convert the records in place, column by column."""
    for index, convert, once in converters:
        if once:
            done: dict[Any, Any] = {}
            for values in records:
                value = values[index]
                if value is not None:
                    found = done.get(value)
                    if found is None:
                        found = done[value] = convert(value)
                    values[index] = found
        else:
            for values in records:
                value = values[index]
                if value is not None:
                    values[index] = convert(value)


async def copy_records(conn: AsyncConnection, model: Any, columns: list[str], records: list[list[Any]]) -> None:
    """Insert records (lists of values in `columns` order, JSON as dicts), in the caller's transaction."""
    if not records:
        return
    table = model.__table__
    postgres = conn.dialect.name == "postgresql"
    _convert(records, _converters(table, columns, not postgres))
    driver = (await conn.get_raw_connection()).driver_connection
    if postgres:
        await driver.copy_records_to_table(table.name, records=records, columns=columns)
        return
    marks = ", ".join("?" for _ in columns)
    await driver.executemany(f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})", records)


async def copy_rows(conn: AsyncConnection, model: Any, rows: list[dict[str, Any]],
                    ids: list[int] | None = None) -> None:
    """Insert rows that all have the same keys (and the given ids), in the caller's transaction."""
    if not rows:
        return
    columns, pick = list(rows[0]), itemgetter(*rows[0])
    records = [list(pick(row)) if len(columns) > 1 else [pick(row)] for row in rows]
    if ids is not None:
        columns = ["id", *columns]
        records = [[new_id, *values] for new_id, values in zip(ids, records, strict=True)]
    await copy_records(conn, model, columns, records)


async def next_ids(conn: AsyncConnection, model: Any, count: int) -> list[int]:
    """Ids for `count` new rows. On SQLite only after this transaction has written (it holds the write lock, so
    nobody else can take the ids that follow the largest)."""
    table = model.__table__
    if conn.dialect.name == "postgresql":  # the sequence looked up once (a subquery), not once per id
        return list((await conn.scalars(text(
            f"SELECT nextval((SELECT pg_get_serial_sequence('{table.name}', 'id')::regclass)) "
            "FROM generate_series(1, :n)"), {"n": count})).all())
    first = (await conn.scalar(text(f"SELECT coalesce(max(id), 0) + 1 FROM {table.name}"))) or 1
    return list(range(first, first + count))


async def insert_with_ids(conn: AsyncConnection, model: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Insert rows and return their new ids in order.

    PostgreSQL hands out the ids from the table's sequence first, then copies the rows in with them. SQLite
    inserts the first row alone, which takes the database's write lock for this transaction, and gives the rest
    the ids that follow: no other writer can insert before the transaction ends.
    """
    if not rows:
        return []
    table = model.__table__
    if conn.dialect.name == "postgresql":
        ids = await next_ids(conn, model, len(rows))
    else:
        first = (await conn.execute(insert(table).returning(table.c.id), rows[0])).scalar_one()
        ids = list(range(first, first + len(rows)))
        rows = rows[1:]
    await copy_rows(conn, model, rows, ids[len(ids) - len(rows):])
    return ids
