"""Spreadsheets for the import tests, built row by row so a test can seed exact mistakes at exact cells."""
from __future__ import annotations

from central.auth.principal import Principal
from central.auth.roles import Role
from central.transfer.tables import write_csv

OFFICE = Principal(user_id=7, username="office-zhao", role=Role.MANAGER, estates=frozenset({"demo"}))
UNIT_HEADERS = ["building", "unit", "floor", "layout", "built_area", "usable_area", "use", "status",
                "resident_name", "relation", "phone", "email", "identity_number", "move_in"]
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def identity_number(serial: int) -> str:
    """A well-formed 18-digit resident identity number (GB 11643 check digit) for a serial."""
    body = f"{110000 + serial // 28000:06d}{19800101 + serial % 28:08d}{serial // 28 % 1000:03d}"
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS)) % 11]
    return body + check


def unit_rows(count: int, buildings: int = 20, per_floor: int = 4) -> list[list[str]]:
    """count clean rows: one unit each over buildings 1..N, each with its owner (every 10th with an ID number)."""
    rows = []
    for i in range(count):
        floor, door = i // buildings // per_floor + 1, i // buildings % per_floor + 1
        building, number = str(i % buildings + 1), f"{floor:02d}{door:02d}"
        rows.append([building, number, str(floor), "3室2厅", "120.50", "98.25", "住宅", "",
                     f"业主{i:05d}", "业主", f"139{i:08d}", f"owner{i}@example.com",
                     identity_number(i) if i % 10 == 0 else "", "2024-03-01"])
    return rows


def csv_bytes(headers: list[str], rows: list[list[str]]) -> bytes:
    return write_csv(headers, rows)
