"""CSV and XLSX files as tables of cells, and back.

CSV is read as UTF-8 (with or without the BOM Excel writes) or else GB18030, the superset of the GBK that
Chinese Excel saves by default; it is written as UTF-8 with a BOM so Excel shows Chinese correctly. Row
numbers are the spreadsheet's own (the header is row 1), so a problem report points at what the user sees.
Text that a spreadsheet would run as a formula (=, @, or +/- not followed by a number) is exported behind an
apostrophe, and that apostrophe is dropped again on import.
"""
from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

Format = Literal["csv", "xlsx"]
MAX_FILE_BYTES = 64 * 1024 * 1024
_XLSX_MAGIC = b"PK\x03\x04"
_NUMBERISH = re.compile(r"^[+-][0-9 ()\-.]+$")
_FORMULA_START = ("=", "@", "+", "-", "\t", "\r")


class FileProblem(ValueError):
    """The file cannot be read as a table at all: wrong format, bad encoding, broken workbook."""


@dataclass(slots=True)
class Table:
    title: str | None
    """The worksheet's title; None for CSV."""
    headers: list[str]
    rows: list[tuple[int, list[Any]]] = field(default_factory=list)
    """(spreadsheet row number, cells) for every row with anything in it."""


def detect_format(data: bytes, filename: str | None = None) -> Format:
    """XLSX by its zip signature (whatever the name says), CSV otherwise."""
    if data.startswith(_XLSX_MAGIC):
        return "xlsx"
    if filename and filename.lower().endswith((".xlsx", ".xlsm")):
        raise FileProblem(f"{filename} is named like an Excel workbook but is not one (no zip signature)")
    return "csv"


def read_tables(data: bytes, fmt: Format) -> list[Table]:
    """Every table in the file: one for CSV, one per non-empty worksheet for XLSX."""
    if len(data) > MAX_FILE_BYTES:
        raise FileProblem(f"the file is {len(data)} bytes; the limit is {MAX_FILE_BYTES} (split it)")
    return [_read_csv(data)] if fmt == "csv" else _read_xlsx(data)


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        if value.startswith("'") and value[1:2] in _FORMULA_START:
            value = value[1:]
        return value or None
    if isinstance(value, datetime):
        return value.date() if value.time() == datetime.min.time() else value
    return value


def _table(title: str | None, rows: Iterable[tuple[int, Sequence[Any]]]) -> Table | None:
    table: Table | None = None
    for number, raw in rows:
        cells = [_cell(v) for v in raw]
        if not any(c is not None for c in cells):
            continue
        if table is None:
            table = Table(title, ["" if c is None else str(c) for c in cells])
        else:
            table.rows.append((number, cells))
    return table


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise FileProblem("the CSV is neither UTF-8 nor GBK/GB18030 text; save it as 'CSV UTF-8'")


def _read_csv(data: bytes) -> Table:
    text = _decode(data)
    if "\x00" in text:
        raise FileProblem("the file holds NUL bytes: it is not a CSV text file")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), dialect))
    except csv.Error as exc:
        raise FileProblem(f"the CSV is malformed: {exc}") from None
    table = _table(None, enumerate(rows, start=1))
    if table is None:
        raise FileProblem("the file is empty")
    return table


def _read_xlsx(data: bytes) -> list[Table]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise FileProblem(f"the workbook cannot be opened: {exc}") from None
    try:
        tables = [t for sheet in book.worksheets
                  if (t := _table(sheet.title, enumerate(sheet.iter_rows(values_only=True), start=1)))]
    finally:
        book.close()
    if not tables:
        raise FileProblem("the workbook has no data")
    return tables


def _export_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBERISH.match(value):
        return "'" + value
    return value


def write_csv(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow([_export_cell(v) for v in row])
    return out.getvalue().encode("utf-8-sig")


def write_xlsx(sheets: Sequence[tuple[str, Sequence[str], Iterable[Sequence[Any]]]]) -> bytes:
    """A workbook with one worksheet per (title, headers, rows); dates stay dates, numbers stay text-exact."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    for title, headers, rows in sheets:
        sheet = book.create_sheet(title)
        sheet.append(list(headers))
        for row in rows:
            sheet.append([v if isinstance(v, date | int) and not isinstance(v, bool) else _export_cell(v)
                          for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
