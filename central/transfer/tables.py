"""CSV and XLSX files as tables of cells, and back.

CSV is read as UTF-8 (with or without the BOM Excel writes) or else GB18030, the superset of the GBK that
Chinese Excel saves by default; it is written as UTF-8 with a BOM so Excel shows Chinese correctly. Row
numbers are the spreadsheet's own (the header is row 1), so a problem report points at what the user sees.
Text that a spreadsheet would run as a formula (=, @, tab, CR, their full-width forms ＝ ＠ ＋ －, or +/- not
followed by a number) is exported behind an apostrophe, and that apostrophe is dropped again on import; text that
itself starts with an apostrophe before one of those gets a second one, so it round-trips too. A workbook may
unpack to at most MAX_UNPACKED_BYTES and a file may hold at most MAX_CELLS cells (a zip bomb, or a sheet whose
declared range pads to billions of empty cells, is refused, not read).
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
MAX_UNPACKED_BYTES = 256 * 1024 * 1024
MAX_CELLS = 5_000_000
_UTF8_BOM = b"\xef\xbb\xbf"
_XLSX_MAGIC = b"PK\x03\x04"
_NUMBERISH = re.compile(r"^[+-][0-9 ()\-.]+$")
_FORMULA_START = ("=", "@", "+", "-", "\t", "\r", "\uff1d", "\uff20", "\uff0b", "\uff0d")


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
        if value.startswith("'") and value.lstrip("'")[:1] in _FORMULA_START:
            value = value[1:]
        return value or None
    if isinstance(value, datetime):
        return value.date() if value.time() == datetime.min.time() else value
    return value


def _too_many_cells() -> FileProblem:
    return FileProblem(f"the file holds more than {MAX_CELLS} cells (counting the empty ones its sheets span); "
                       "split it, or delete the empty rows and columns past the data")


def _table(title: str | None, rows: Iterable[tuple[int, Sequence[Any]]], budget: list[int]) -> Table | None:
    """The non-empty rows; budget[0] is how many more cells may be read (shared by every sheet of a file)."""
    table: Table | None = None
    for number, raw in rows:
        budget[0] -= max(len(raw), 1)
        if budget[0] < 0:
            raise _too_many_cells()
        cells = [_cell(v) for v in raw]
        if not any(c is not None for c in cells):
            continue
        if table is None:
            table = Table(title, ["" if c is None else str(c) for c in cells])
        else:
            table.rows.append((number, cells))
    return table


def _decode(data: bytes) -> str:
    if data.startswith(_UTF8_BOM):  # says UTF-8: a bad byte is an error to show, not a hint to try GBK
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise FileProblem(f"the CSV starts as UTF-8 (it has the BOM) but byte {exc.start} is not UTF-8; "
                              "save it again as 'CSV UTF-8'") from None
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
    if text.count(dialect.delimiter) > MAX_CELLS:  # one line of separators would be one enormous row
        raise _too_many_cells()
    try:
        table = _table(None, enumerate(csv.reader(io.StringIO(text, newline=""), dialect), start=1), [MAX_CELLS])
    except csv.Error as exc:
        raise FileProblem(f"the CSV is malformed: {exc}") from None
    if table is None:
        raise FileProblem("the file is empty")
    return table


def _read_xlsx(data: bytes) -> list[Table]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise FileProblem(f"the workbook cannot be opened: {exc}") from None
    if unpacked > MAX_UNPACKED_BYTES:
        raise FileProblem(f"the workbook unpacks to {unpacked} bytes; the limit is {MAX_UNPACKED_BYTES} (split it)")
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise FileProblem(f"the workbook cannot be opened: {exc}") from None
    budget = [MAX_CELLS]
    try:
        tables = [t for sheet in book.worksheets
                  if (t := _table(sheet.title, enumerate(sheet.iter_rows(values_only=True), start=1), budget))]
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
    if isinstance(value, str) and ((value.startswith(_FORMULA_START) and not _NUMBERISH.match(value))
                                   or (value.startswith("'") and value.lstrip("'")[:1] in _FORMULA_START)):
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
