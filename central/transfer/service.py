"""Import a file into an estate (checked in full first, then all or nothing) and export the same sheets."""
from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from central.auth.principal import Principal
from central.registry.common import require_estate
from central.registry.estates import estate_today
from central.transfer.plan import Planner, Problem
from central.transfer.sheets import ORDER, SHEETS, Sheet, header_key, sheet_for_title
from central.transfer.state import load_state
from central.transfer.tables import FileProblem, Format, Table, detect_format, read_tables
from central.transfer.write import Progress, write_plan


@dataclass(slots=True)
class ImportReport:
    dry_run: bool
    written: bool
    sheets: dict[str, int] = field(default_factory=dict)
    """Data rows read per sheet."""
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    sha256: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "written": self.written, "sheets": self.sheets, "created": self.created,
                "updated": self.updated, "unchanged": not self.created and not self.updated,
                "problem_count": len(self.problems), "problems": [p.as_dict() for p in self.problems],
                "sha256": self.sha256}


def _guess_sheet(table: Table) -> Sheet:
    """The one sheet kind whose columns a CSV's headers name, or a FileProblem asking to say which."""
    headers = {header_key(h) for h in table.headers if h.strip()}
    fits = [s for s in SHEETS.values()
            if all(any(header_key(h) in headers for h in c.headers) for c in s.columns if c.required)
            and headers <= {header_key(h) for c in s.columns for h in c.headers}]
    if len(fits) != 1:
        raise FileProblem("cannot tell which sheet this file is from its headers; name it: "
                          f"{', '.join(SHEETS)}")
    return fits[0]


def assign_sheets(tables: list[Table], sheet: str | None) -> list[tuple[Sheet, Table]]:
    """Each table with its sheet kind, in the order they must be written."""
    if sheet is not None and sheet not in SHEETS:
        raise FileProblem(f"unknown sheet {sheet!r}; the sheets are {', '.join(SHEETS)}")
    pairs = []
    for table in tables:
        if sheet is not None and len(tables) == 1:
            kind = SHEETS[sheet]
        elif table.title is not None:
            kind = sheet_for_title(table.title)
            if kind is None:
                raise FileProblem(f"worksheet {table.title!r} is not a sheet EstateLink imports; name it one of "
                                  + ", ".join("/".join(s.titles) for s in SHEETS.values()))
        else:
            kind = _guess_sheet(table)
        pairs.append((kind, table))
    if sheet is not None:
        pairs = [(k, t) for k, t in pairs if k.name == sheet]
    return sorted(pairs, key=lambda pair: ORDER.index(pair[0].name))


async def import_file(engine: AsyncEngine, actor: Principal, estate: str, data: bytes, *,
                      filename: str | None = None, fmt: Format | None = None, sheet: str | None = None,
                      dry_run: bool = False, progress: Progress | None = None) -> ImportReport:
    """Check every row; write only when the whole file is clean and this is not a dry run."""
    digest = hashlib.sha256(data).hexdigest()
    # parsing a big file is seconds of CPU: in a thread, so central's other requests and senders keep going
    tables = assign_sheets(await asyncio.to_thread(read_tables, data, fmt or detect_format(data, filename)), sheet)
    report = ImportReport(dry_run=dry_run, written=False, sha256=digest)
    async with engine.begin() as conn:
        await require_estate(conn, estate)
        today = await estate_today(conn, estate)
        planner = Planner(await load_state(conn, estate, today), today)
        for kind, table in tables:
            planner.add_table(kind, table, progress)
        plan = planner.plan
        report.sheets, report.problems = dict(plan.rows), plan.problems
        report.created, report.updated = plan.counts()
        if plan.problems or dry_run:
            await conn.rollback()
            return report
        detail = f"import of {filename or 'an uploaded file'} (sha256 {digest[:16]})"
        await write_plan(conn, actor, estate, plan, detail=detail, progress=progress)
    report.written = True
    return report
