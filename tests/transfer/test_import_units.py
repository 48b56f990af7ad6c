"""Importing units with their residents: every problem by row and column, all or nothing, and re-runs are no-ops."""
from __future__ import annotations

from sqlalchemy import func, select

from central.auth.models import AuditEntry
from central.registry import search
from central.registry.models import Occupancy, Resident, Unit
from central.transfer.service import import_file
from tests.transfer.files import OFFICE, UNIT_HEADERS, csv_bytes, unit_rows

COL = {name: index for index, name in enumerate(UNIT_HEADERS)}
LETTER = {name: chr(65 + index) for index, name in enumerate(UNIT_HEADERS)}


async def counts(engine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {model.__tablename__: await conn.scalar(select(func.count()).select_from(model))
                for model in (Unit, Resident, Occupancy, AuditEntry)}


def seed_errors(rows: list[list[str]]) -> set[tuple[int, str]]:
    """Twenty mistakes an office makes, each at a known (spreadsheet row, column); rows[0] is row 2."""
    seeded: set[tuple[int, str]] = set()

    def spoil(index: int, column: str, value: str) -> None:
        rows[index][COL[column]] = value
        seeded.add((index + 2, column))

    spoil(10, "unit", "")                        # missing unit
    spoil(500, "unit", "")
    spoil(20, "built_area", "abc")               # area not a number
    spoil(1500, "usable_area", "九十")
    spoil(30, "building", "99")                  # unknown building
    spoil(4000, "building", "B")
    spoil(41, "phone", rows[40][COL["phone"]])   # duplicate phone (another person on row 42)
    spoil(9001, "phone", rows[12][COL["phone"]])
    spoil(50, "relation", "朋友")                # not owner, family or tenant
    spoil(60, "floor", "12.5")                   # not a whole floor
    spoil(70, "move_in", "2024-02-30")           # no such date
    spoil(80, "phone", "138-abc-0000")           # letters in a phone
    spoil(90, "email", "owner-at-example.com")   # not an e-mail
    spoil(100, "identity_number", "11010519800101001X")  # wrong check digit
    spoil(110, "use", "warehouse")
    spoil(120, "status", "demolished")
    spoil(130, "usable_area", "130.00")          # larger than the built area
    spoil(2222, "built_area", "-5")
    spoil(7777, "resident_name", "")             # resident details without a name
    spoil(8888, "layout", "x" * 40)              # too long
    return seeded


async def test_10000_rows_with_20_errors_report_exactly_those_and_write_nothing(engine, estate):
    rows = unit_rows(10_000)
    seeded = seed_errors(rows)
    assert len(seeded) == 20
    data = csv_bytes(UNIT_HEADERS, rows)
    before = await counts(engine)

    for dry_run in (True, False):
        report = await import_file(engine, OFFICE, estate, data, filename="units.csv", dry_run=dry_run)
        found = {(p.row, p.column) for p in report.problems}
        assert found == seeded, sorted(found ^ seeded)
        assert len(report.problems) == 20, [str(p) for p in report.problems]
        assert report.written is False
        assert await counts(engine) == before

    by_cell = {p.cell: p.message for p in report.problems}
    assert "unknown building '99'" in by_cell[f"{LETTER['building']}32"]
    assert "duplicate phone" in by_cell[f"{LETTER['phone']}43"] and "row 42" in by_cell[f"{LETTER['phone']}43"]


async def test_clean_file_imports_and_reimport_changes_nothing(engine, estate):
    rows = unit_rows(2_000)
    rows.append(["1", "0101", "1", "3室2厅", "120.50", "98.25", "住宅", "", "家属甲", "家属", "", "", "", ""])
    data = csv_bytes(UNIT_HEADERS, rows)
    audited_before = (await counts(engine))["audit_log"]

    report = await import_file(engine, OFFICE, estate, data, filename="units.csv")
    assert report.problems == [] and report.written
    assert report.created == {"unit": 2000, "resident": 2001, "occupancy": 2001}
    after_first = await counts(engine)
    assert after_first["units"] == 2000 and after_first["residents"] == 2001
    assert after_first["audit_log"] - audited_before == 2000 + 2001 + 2001   # one entry per record created

    async with engine.connect() as conn:
        found = await search.search(conn, estate, "13900001234")
        unit = (await conn.execute(select(Unit).where(Unit.number == "0101", Unit.estate == estate).limit(1))).first()
    assert [(h["type"], h["name"]) for h in found["hits"]] == [("resident", "业主01234")]
    assert (unit.use, unit.status, str(unit.built_area)) == ("residential", "occupied", "120.50")

    again = await import_file(engine, OFFICE, estate, data, filename="units.csv")
    assert again.written and again.created == {} and again.updated == {} and again.problems == []
    assert await counts(engine) == after_first


async def test_a_changed_row_updates_only_that_record_and_audits_before_and_after(engine, estate):
    rows = unit_rows(40)
    await import_file(engine, OFFICE, estate, csv_bytes(UNIT_HEADERS, rows))
    rows[5][COL["built_area"]] = "121.00"
    rows[5][COL["email"]] = "new@example.com"
    rows[6][COL["layout"]] = ""                  # a blank cell keeps what is stored
    report = await import_file(engine, OFFICE, estate, csv_bytes(UNIT_HEADERS, rows))
    assert report.updated == {"unit": 1, "resident": 1} and report.created == {}
    async with engine.connect() as conn:
        entry = (await conn.execute(select(AuditEntry).where(AuditEntry.action == "unit.update"))).one()
        layout = await conn.scalar(select(Unit.layout).where(Unit.number == rows[6][COL["unit"]],
                                                             Unit.estate == estate).limit(1))
    assert (entry.before, entry.after, entry.actor) == ({"built_area": "120.50"}, {"built_area": "121.00"},
                                                        "office-zhao")
    assert layout == "3室2厅"
