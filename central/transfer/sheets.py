"""The sheets an estate office brings in and takes out: their columns, headers (English or Chinese) and row types.

A sheet is data: its columns in export order, each with the header aliases it is recognised by and whether it
is required. Each row becomes a pydantic model built from the registry's own field types, so an imported value
obeys exactly the rules of the API. Chinese labels are accepted for the enumerations (业主, 住宅, 空置, ...).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints, model_validator

from central.registry.common import AreaValue, Code, Email, Name, Phone, ShortNote
from central.registry.estates import Floors
from central.registry.residents import IdentityNumber
from central.registry.staff import CardNumber, Text64
from central.registry.units import Floor, Layout
from central.registry.vehicles import Plate


def _labels(mapping: dict[str, str]) -> Any:
    """Accept the English value or its Chinese label, case- and space-insensitively."""
    def convert(value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            return mapping.get(text, text.lower())
        return value
    return BeforeValidator(convert)


def _blank_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def _whole_number(value: Any) -> Any:
    """Spreadsheets hand back 12.0 for 12; a fraction stays and fails as not an integer."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


_EXCEL_EPOCH = date(1899, 12, 30)
_EXCEL_LAST = 2958465
"""9999-12-31 as an Excel serial day number."""


def _excel_date(value: Any) -> Any:
    """A date cell formatted as a number (or saved so to CSV) holds Excel's serial day number: 45306 is
    2024-01-15. Without this pydantic would read the number as seconds since 1970 and refuse or misread it."""
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 7:
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= _EXCEL_LAST:
        return _EXCEL_EPOCH + timedelta(days=value)
    return value


def _yes_no(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip().lower()
        if text in {"是", "在职", "y", "yes", "true", "1"}:
            return True
        if text in {"否", "离职", "n", "no", "false", "0"}:
            return False
    return value


Optional = BeforeValidator(_blank_is_none)
ExcelDate = BeforeValidator(_excel_date)
UseLabel = Annotated[Literal["residential", "shop", "office"],
                     _labels({"住宅": "residential", "商铺": "shop", "商业": "shop", "办公": "office"})]
StatusLabel = Annotated[Literal["occupied", "vacant", "let", "renovating"],
                        _labels({"已入住": "occupied", "自住": "occupied", "空置": "vacant", "出租": "let",
                                 "装修中": "renovating", "装修": "renovating"})]
RelationLabel = Annotated[Literal["owner", "family", "tenant"],
                          _labels({"业主": "owner", "家属": "family", "家庭成员": "family", "租户": "tenant"})]
ParkingKindLabel = Annotated[Literal["owned", "rented", "temporary"],
                             _labels({"产权": "owned", "自有": "owned", "租赁": "rented", "临时": "temporary"})]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]


class Row(BaseModel):
    """One spreadsheet row; blank cells are absent values."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


class BuildingRow(Row):
    code: Code
    name: Annotated[ShortNote, Optional] = ""
    floors: Annotated[Floors | None, Optional, BeforeValidator(_whole_number)] = None


class UnitRow(Row):
    building: Code
    unit: Code
    floor: Annotated[Floor | None, Optional, BeforeValidator(_whole_number)] = None
    layout: Annotated[Layout | None, Optional] = None
    built_area: Annotated[AreaValue | None, Optional] = None
    usable_area: Annotated[AreaValue | None, Optional] = None
    use: Annotated[UseLabel | None, Optional] = None
    status: Annotated[StatusLabel | None, Optional] = None
    resident_name: Annotated[Name | None, Optional] = None
    relation: Annotated[RelationLabel | None, Optional] = None
    phone: Annotated[Phone | None, Optional] = None
    email: Annotated[Email | None, Optional] = None
    identity_number: Annotated[IdentityNumber | None, Optional] = None
    move_in: Annotated[date | None, Optional, ExcelDate] = None

    @model_validator(mode="after")
    def _resident_complete(self) -> "UnitRow":
        resident = (self.relation, self.phone, self.email, self.identity_number, self.move_in)
        if self.resident_name is None and any(v is not None for v in resident):
            raise ValueError("resident_name: a row with resident details needs the resident's name")
        if self.built_area is not None and self.usable_area is not None and self.usable_area > self.built_area:
            raise ValueError(f"usable_area: {self.usable_area} is larger than built_area {self.built_area}")
        return self


class StaffRow(Row):
    name: Name
    phone: Annotated[Phone | None, Optional] = None
    position: Annotated[Text64, Optional] = ""
    shift: Annotated[Text64, Optional] = ""
    active: Annotated[bool, Optional, BeforeValidator(_yes_no)] = True
    joined_on: Annotated[date | None, Optional, ExcelDate] = None
    card: Annotated[CardNumber | None, Optional] = None


class ParkingRow(Row):
    code: Code
    kind: ParkingKindLabel
    building: Annotated[Code | None, Optional] = None
    unit: Annotated[Code | None, Optional] = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> "ParkingRow":
        if (self.building is None) != (self.unit is None):
            missing = "unit" if self.unit is None else "building"
            raise ValueError(f"{missing}: a parking space tied to a unit needs both building and unit")
        return self


class VehicleRow(Row):
    plate: Plate
    owner_phone: Phone
    description: Annotated[ShortNote, Optional] = ""


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    headers: tuple[str, ...]
    """Other names the column goes by, matched ignoring case, spaces and underscores."""
    required: bool = False


@dataclass(frozen=True, slots=True)
class Sheet:
    name: str
    titles: tuple[str, ...]
    """What an XLSX worksheet of this kind may be called."""
    row: type[Row]
    columns: tuple[Column, ...]


def _col(key: str, *headers: str, required: bool = False) -> Column:
    return Column(key, (key, *headers), required)


SHEETS: dict[str, Sheet] = {sheet.name: sheet for sheet in (
    Sheet("buildings", ("buildings", "楼栋"), BuildingRow, (
        _col("code", "building", "楼栋", "楼栋编号", required=True), _col("name", "名称", "楼栋名称"),
        _col("floors", "层数"))),
    Sheet("units", ("units", "房屋", "房屋信息", "业主信息"), UnitRow, (
        _col("building", "楼栋", "楼号", required=True), _col("unit", "number", "房号", "房间号", required=True),
        _col("floor", "楼层"), _col("layout", "户型"), _col("built_area", "建筑面积"),
        _col("usable_area", "使用面积", "套内面积"), _col("use", "用途"), _col("status", "状态", "房屋状态"),
        _col("resident_name", "resident", "姓名", "业主姓名", "住户姓名"), _col("relation", "关系", "身份"),
        _col("phone", "电话", "手机", "联系电话", "手机号"), _col("email", "邮箱"),
        _col("identity_number", "身份证号", "证件号码"), _col("move_in", "入住日期"))),
    Sheet("staff", ("staff", "员工", "员工信息"), StaffRow, (
        _col("name", "姓名", required=True), _col("phone", "电话", "手机", "联系电话"), _col("position", "岗位", "职位"),
        _col("shift", "班次"), _col("active", "在职"), _col("joined_on", "入职日期"), _col("card", "卡号", "工卡"))),
    Sheet("parking", ("parking", "车位"), ParkingRow, (
        _col("code", "车位号", "车位编号", required=True), _col("kind", "类型", "车位类型", required=True),
        _col("building", "楼栋", "楼号"), _col("unit", "房号"))),
    Sheet("vehicles", ("vehicles", "车辆"), VehicleRow, (
        _col("plate", "车牌", "车牌号", required=True), _col("owner_phone", "车主电话", "电话", required=True),
        _col("description", "描述", "车型", "备注"))),
)}
ORDER = ("buildings", "units", "staff", "parking", "vehicles")
"""The order sheets are planned and written in: each may refer to what the ones before it create."""


def header_key(text: str) -> str:
    return "".join(str(text).split()).replace("_", "").casefold()


def sheet_for_title(title: str) -> Sheet | None:
    """The sheet kind an XLSX worksheet's title names, if any."""
    wanted = header_key(title)
    for sheet in SHEETS.values():
        if any(header_key(t) == wanted for t in sheet.titles):
            return sheet
    return None
