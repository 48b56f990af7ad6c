"""Check every row of an import against the estate and against the rows before it, and plan the changes.

Nothing is written here. Each row either adds problems (sheet, row, column, message) or plans creates and
updates of records found by their natural keys: building code; building + unit number; a resident by phone,
else identity number, else name among the unit's current occupants; staff by phone, else name; parking by
code; a vehicle by plate. A row that matches what is stored plans nothing, which is what makes re-running a
file a no-op. Blank cells never erase stored values.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import ValidationError

from central.registry import identity
from central.registry.common import digits, name_key
from central.transfer.sheets import ParkingRow, Row, Sheet, StaffRow, UnitRow, VehicleRow, header_key
from central.transfer.state import STAFF_FIELDS, UNIT_FIELDS, EstateState, Record, Ref
from central.transfer.tables import Table

ENTITIES = ("building", "unit", "resident", "occupancy", "staff", "staff_card", "parking", "vehicle")


@dataclass(frozen=True, slots=True)
class Problem:
    sheet: str
    row: int
    column: str | None
    """The column's header as the file spells it."""
    cell: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"sheet": self.sheet, "row": self.row, "column": self.column, "cell": self.cell,
                "message": self.message}

    def __str__(self) -> str:
        where = f"{self.sheet} row {self.row}" + (f", column {self.column} ({self.cell})" if self.column else "")
        return f"{where}: {self.message}"


@dataclass(slots=True)
class Change:
    entity: str
    record: Record
    values: dict[str, Any]
    """Create: every column (references as Ref). Update: the changed columns."""
    before: dict[str, Any] | None = None


@dataclass(slots=True)
class Plan:
    problems: list[Problem] = field(default_factory=list)
    creates: dict[str, list[Change]] = field(default_factory=lambda: {e: [] for e in ENTITIES})
    updates: dict[str, dict[int, Change]] = field(default_factory=lambda: {e: {} for e in ENTITIES})
    rows: dict[str, int] = field(default_factory=dict)

    def counts(self) -> tuple[dict[str, int], dict[str, int]]:
        return ({e: len(c) for e, c in self.creates.items() if c},
                {e: len(u) for e, u in self.updates.items() if u})


def column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


class Planner:
    """Plans one import: feed it tables in sheet order, then read `plan`."""

    def __init__(self, state: EstateState, today: date) -> None:
        self.state, self.today, self.plan = state, today, Plan()
        self._seen: dict[tuple[str, Any], tuple[int, dict[str, Any]]] = {}
        self._sheet: Sheet | None = None
        self._columns: dict[str, tuple[str, int]] = {}

    def add_table(self, sheet: Sheet, table: Table, progress: Any = None) -> None:
        """Check and plan every row of one table of the given kind."""
        self._sheet, self._columns = sheet, {}
        if not self._read_headers(sheet, table):
            return
        handler = {"buildings": self._building, "units": self._unit, "staff": self._staff,
                   "parking": self._parking, "vehicles": self._vehicle}[sheet.name]
        self.plan.rows[sheet.name] = self.plan.rows.get(sheet.name, 0) + len(table.rows)
        for done, (number, cells) in enumerate(table.rows, start=1):
            values = {key: cells[index] for key, (_, index) in self._columns.items()
                      if index < len(cells) and cells[index] is not None}
            try:
                row = sheet.row.model_validate(values)
            except ValidationError as exc:
                self._report_invalid(number, exc)
            else:
                handler(number, row)
            if progress is not None and (done % 1000 == 0 or done == len(table.rows)):
                progress(f"check {sheet.name}", done, len(table.rows))

    def _read_headers(self, sheet: Sheet, table: Table) -> bool:
        known = {header_key(h): c.key for c in sheet.columns for h in c.headers}
        for index, header in enumerate(table.headers):
            if not header.strip():
                continue
            key = known.get(header_key(header))
            if key is None:
                self._problem(1, None, f"unknown column {header!r} in {column_letter(index)}1; the {sheet.name} sheet "
                                       f"has: {', '.join(c.key for c in sheet.columns)}")
            elif key in self._columns:
                self._problem(1, None, f"columns {self._columns[key][0]!r} and {header!r} are both {key}")
            else:
                self._columns[key] = (header, index)
        missing = [c.key for c in sheet.columns if c.required and c.key not in self._columns]
        if missing:
            self._problem(1, None, f"the {sheet.name} sheet needs the column(s) {', '.join(missing)}")
        return not missing

    def _problem(self, row: int, key: str | None, message: str) -> None:
        column = cell = None
        if key in self._columns:
            column, index = self._columns[key]
            cell = f"{column_letter(index)}{row}"
        elif key is not None:
            column = key
        self.plan.problems.append(Problem(self._sheet.name, row, column, cell, message))

    def _report_invalid(self, row: int, exc: ValidationError) -> None:
        for error in exc.errors(include_url=False):
            key = str(error["loc"][0]) if error["loc"] else None
            message = error["msg"].removeprefix("Value error, ")
            if key is None and ": " in message:
                key, message = message.split(": ", 1)
            self._problem(row, key, message)

    def _first(self, kind: str, key: Any, row: int, given: dict[str, Any], what: str) -> bool:
        """True the first time a record appears in the file; later rows must agree with what it said."""
        seen = self._seen.get((kind, key))
        if seen is None:
            self._seen[(kind, key)] = (row, dict(given))
            return True
        first_row, said = seen
        for field_name, value in given.items():
            if field_name in said and said[field_name] != value:
                self._problem(row, field_name, f"{value} differs from {said[field_name]} given for {what} "
                                               f"on row {first_row}")
            said.setdefault(field_name, value)
        return False

    def _create(self, entity: str, values: dict[str, Any], row: int, links: dict[str, Any] | None = None) -> Record:
        record = Record(Ref(), values, row, links or {})
        self.plan.creates[entity].append(Change(entity, record, values))
        return record

    def _set(self, entity: str, record: Record, given: dict[str, Any]) -> None:
        """Bring a record to the given values: planned ones are changed in place, stored ones get an update."""
        diff = {k: v for k, v in given.items() if record.values.get(k) != v}
        if not diff:
            return
        if record.ref.is_new:
            record.values.update(diff)
            return
        change = self.plan.updates[entity].setdefault(record.ref.id, Change(entity, record, {}, {}))
        for k, v in diff.items():
            change.before.setdefault(k, record.values.get(k))
            change.values[k] = v
        record.values.update(diff)

    @staticmethod
    def _given(row: Row, fields: tuple[str, ...]) -> dict[str, Any]:
        return {f: getattr(row, f) for f in fields if f in row.model_fields_set}

    def _building(self, n: int, row: Row) -> None:
        given = self._given(row, ("name", "floors"))
        if not self._first("building", row.code, n, given, f"building {row.code}"):
            self._problem(n, "code", f"building {row.code} is already on row {self._seen[('building', row.code)][0]}")
            return
        record = self.state.buildings.get(row.code)
        if record is None:
            self.state.buildings[row.code] = self._create(
                "building", {"code": row.code, "name": "", "floors": None, **given}, n)
        else:
            self._set("building", record, given)

    def _unit(self, n: int, row: UnitRow) -> None:
        building = self.state.buildings.get(row.building)
        if building is None:
            self._problem(n, "building", f"unknown building {row.building!r}: add it in the buildings sheet or "
                                         "through the API first")
            return
        key = (row.building, row.unit)
        given = self._given(row, UNIT_FIELDS)
        self._first("unit", key, n, given, f"unit {row.building}-{row.unit}")
        unit = self.state.units.get(key)
        if unit is None:
            defaults = {"floor": None, "layout": "", "built_area": None, "usable_area": None, "use": "residential",
                        "status": "occupied" if row.resident_name else "vacant"}
            unit = self._create("unit", {"building_id": building.ref, "number": row.unit, **defaults, **given}, n,
                                {"key": key})
            self.state.units[key] = unit
        else:
            self._set("unit", unit, given)
        if row.resident_name is not None:
            self._occupant(n, row, unit, key)

    def _find_resident(self, n: int, row: UnitRow, key: tuple[str, str], digest: str | None) -> Record | None | bool:
        """The resident the row means; None for someone new; False when the row contradicts the records."""
        wanted = name_key(row.resident_name)
        phone = digits(row.phone or "")
        if phone and (found := self.state.residents_by_phone.get(phone)) is not None:
            if name_key(found.values["name"]) != wanted:
                self._problem(n, "phone", f"duplicate phone: {row.phone} belongs to {found.values['name']} "
                                          f"({_where(found)}); one phone number, one person")
                return False
            return found
        if digest and (found := self.state.residents_by_identity.get(digest)) is not None:
            if name_key(found.values["name"]) != wanted:
                self._problem(n, "identity_number", f"this identity number belongs to {found.values['name']} "
                                                    f"({_where(found)})")
                return False
            return found
        for occupancy in self.state.occupants.get(key, []):
            known = occupancy.links["resident"]
            if name_key(known.values["name"]) == wanted and digits(known.values["phone"]) in ("", phone):
                return known
        return None

    def _occupant(self, n: int, row: UnitRow, unit: Record, key: tuple[str, str]) -> None:
        digest = identity.digest(row.identity_number) if row.identity_number else None
        resident = self._find_resident(n, row, key, digest)
        if resident is False:
            return
        phone = digits(row.phone or "")
        if resident is None:
            resident = self._create("resident", {"name": row.resident_name, "phone": row.phone or "",
                                                 "email": row.email or "", "identity_number": row.identity_number},
                                    n, {"identity_hmac": digest})
        else:
            stored = resident.links.get("identity_hmac")
            if digest and stored and stored != digest:
                self._problem(n, "identity_number", f"differs from the identity number on record for "
                                                    f"{resident.values['name']}; correct it through the API")
                return
            given = {k: v for k, v in (("email", row.email), ("phone", row.phone)) if v}
            if digest and not stored:
                given["identity_number"] = row.identity_number
                resident.links["identity_hmac"] = digest
            self._set("resident", resident, given)
        if phone:
            self.state.residents_by_phone.setdefault(phone, resident)
        if digest:
            self.state.residents_by_identity.setdefault(digest, resident)
        occupants = self.state.occupants.setdefault(key, [])
        current = next((o for o in occupants if o.links["resident"] is resident), None)
        if not self._first("occupancy", (id(resident), key), n, {}, "this resident"):
            first = self._seen[("occupancy", (id(resident), key))][0]
            self._problem(n, "resident_name", f"row {first} already lists {row.resident_name} in unit "
                                              f"{key[0]}-{key[1]}")
        elif current is None:
            values = {"resident_id": resident.ref, "unit_id": unit.ref, "relation": row.relation or "owner",
                      "move_in": row.move_in or self.today, "move_out": None}
            occupants.append(self._create("occupancy", values, n, {"resident": resident}))
        elif row.relation is not None:
            self._set("occupancy", current, {"relation": row.relation})

    def _staff(self, n: int, row: StaffRow) -> None:
        phone = digits(row.phone or "")
        index, lookup = (self.state.staff_by_phone, phone) if phone else (self.state.staff_by_name,
                                                                          name_key(row.name))
        given = self._given(row, STAFF_FIELDS)
        member = index.get(lookup)
        if member is None and phone:
            member = self.state.staff_by_name.get(name_key(row.name))
        if member is not None and name_key(member.values["name"]) != name_key(row.name):
            self._problem(n, "phone", f"duplicate phone: {row.phone} belongs to {member.values['name']} "
                                      f"({_where(member)})")
            return
        if self._first("staff", lookup, n, given, row.name):
            if member is None:
                member = self._create("staff", {"name": row.name, "phone": row.phone or "", "position": "",
                                                "shift": "", "active": True, "joined_on": self.today, **given}, n)
                index[lookup] = member
            else:
                self._set("staff", member, given)
            if phone:
                self.state.staff_by_phone.setdefault(phone, member)
        if row.card:
            holder = self.state.cards.get(row.card)
            if holder is None:
                self.state.cards[row.card] = self._create("staff_card", {"staff_id": member.ref, "card": row.card},
                                                          n, {"staff": member})
            elif holder.links["staff"] is not member:
                self._problem(n, "card", f"card {row.card} belongs to {holder.links['staff'].values['name']} "
                                         f"({_where(holder)})")

    def _parking(self, n: int, row: ParkingRow) -> None:
        unit = None
        if row.building is not None:
            unit = self.state.units.get((row.building, row.unit))
            if unit is None:
                self._problem(n, "unit", f"unknown unit {row.building}-{row.unit}: import it in the units sheet "
                                         "first")
                return
        if not self._first("parking", row.code, n, {}, row.code):
            self._problem(n, "code", f"parking space {row.code} is already on row "
                                     f"{self._seen[('parking', row.code)][0]}")
            return
        space = self.state.parking.get(row.code)
        given = {"kind": row.kind, "unit_id": unit.ref if unit else None}
        if space is None:
            self.state.parking[row.code] = self._create("parking", {"code": row.code, **given}, n)
        else:
            self._set("parking", space, given)

    def _vehicle(self, n: int, row: VehicleRow) -> None:
        owner = self.state.residents_by_phone.get(digits(row.owner_phone))
        if owner is None:
            self._problem(n, "owner_phone", f"no resident of this estate has the phone {row.owner_phone}; import "
                                            "the units sheet with its residents first")
            return
        if not self._first("vehicle", row.plate, n, {}, row.plate):
            self._problem(n, "plate", f"plate {row.plate} is already on row {self._seen[('vehicle', row.plate)][0]}")
            return
        vehicle = self.state.vehicles.get(row.plate)
        given = self._given(row, ("description",))
        if vehicle is None:
            self.state.vehicles[row.plate] = self._create(
                "vehicle", {"plate": row.plate, "resident_id": owner.ref, "description": "", **given}, n,
                {"owner": owner})
        elif vehicle.links["owner"] is not owner:
            self._problem(n, "plate", f"plate {row.plate} is registered to {vehicle.links['owner'].values['name']}; "
                                      "transfer it through the API")
        else:
            self._set("vehicle", vehicle, given)


def _where(record: Record) -> str:
    return f"row {record.row} of this file" if record.row is not None else f"record {record.ref.id}"
