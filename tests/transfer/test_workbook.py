"""A whole workbook (buildings, units, staff, parking, vehicles) in Chinese, its problems, and export round trips."""
from __future__ import annotations

import io

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from central.registry.models import ParkingSpace, Staff, StaffCard, Vehicle
from central.transfer.export import export_file
from central.transfer.service import import_file
from central.transfer.tables import FileProblem, write_csv
from tests.transfer.files import OFFICE, identity_number

SHEETS = {
    "楼栋": [["楼栋编号", "名称", "层数"], ["A", "A座", 18], ["B", "B座", 12]],
    "房屋": [["楼栋", "房号", "楼层", "户型", "建筑面积", "使用面积", "用途", "状态", "姓名", "关系", "手机", "身份证号"],
             ["A", 1201, 12, "3室2厅", 120.5, 98.25, "住宅", "已入住", "李伟", "业主", 13800138000, identity_number(1)],
             ["A", 1201, None, None, None, None, None, None, "王芳", "家属", 13800138001, None],
             ["B", "0101", 1, "1室", "45", "40", "商铺", "出租", "陈静", "租户", "13900139000", None]],
    "员工": [["姓名", "电话", "岗位", "班次", "在职", "入职日期", "卡号"],
             ["张保安", "13700137000", "保安", "night", "是", "2025-01-15", "0A1B2C3D4E"],
             ["刘保洁", None, "保洁", "day", "是", None, None]],
    "车位": [["车位号", "类型", "楼栋", "房号"], ["P-001", "产权", "A", 1201], ["P-100", "临时", None, None]],
    "车辆": [["车牌", "车主电话", "描述"], ["京A·12345", "13800138000", "白色轿车"]],
}


def workbook(sheets: dict[str, list[list]]) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def test_chinese_workbook_imports_every_sheet_and_its_export_reimports_as_a_no_op(engine):
    async with engine.begin() as conn:
        from central.registry import estates
        await estates.create_estate(conn, OFFICE, estates.EstateCreate(code="demo", name="演示花园"))

    report = await import_file(engine, OFFICE, "demo", workbook(SHEETS), filename="迁移.xlsx")
    assert report.problems == [], [str(p) for p in report.problems]
    assert report.created == {"building": 2, "unit": 2, "resident": 3, "occupancy": 3, "staff": 2,
                              "staff_card": 1, "parking": 2, "vehicle": 1}
    async with engine.connect() as conn:
        plate = await conn.scalar(select(Vehicle.plate))
        card = await conn.scalar(select(StaffCard.card))
        night = await conn.scalar(select(Staff.shift).where(Staff.name == "张保安"))
        tied = await conn.scalar(select(ParkingSpace.unit_id).where(ParkingSpace.code == "P-001"))
        exported = await export_file(conn, "demo", sheet=None, fmt="xlsx", language="zh")
        units_csv = await export_file(conn, "demo", sheet="units", fmt="csv")
    assert (plate, card, night, tied is not None) == ("京A12345", "0A1B2C3D4E", "night", True)

    titles = load_workbook(io.BytesIO(exported), read_only=True).sheetnames
    assert titles == ["楼栋", "房屋", "员工", "车位", "车辆"]
    for data, name in ((exported, "export.xlsx"), (units_csv, "units.csv"), (workbook(SHEETS), "迁移.xlsx")):
        again = await import_file(engine, OFFICE, "demo", data, filename=name)
        assert (again.problems, again.created, again.updated) == ([], {}, {}), name


async def test_references_that_do_not_resolve_are_reported_where_they_are(engine):
    async with engine.begin() as conn:
        from central.registry import estates
        await estates.create_estate(conn, OFFICE, estates.EstateCreate(code="demo", name="演示花园"))
    sheets = {k: [list(r) for r in v] for k, v in SHEETS.items()}
    sheets["车位"].append(["P-002", "租赁", "A", 9999])                        # row 4: missing unit
    sheets["车辆"].append(["沪B88888", "13000000000", ""])                      # row 3: no such owner
    sheets["员工"].append(["赵保安", "13700137009", "保安", "day", "是", None, "0a1b 2c3d4e"])  # row 4: card taken
    sheets["车辆"].append(["京A-12345", "13800138001", ""])                     # row 4: plate twice

    report = await import_file(engine, OFFICE, "demo", workbook(sheets), dry_run=True)
    assert sorted((p.sheet, p.row, p.cell) for p in report.problems) == [
        ("parking", 4, "D4"), ("staff", 4, "G4"), ("vehicles", 3, "B3"), ("vehicles", 4, "A4")]
    messages = " | ".join(p.message for p in report.problems)
    assert "unknown unit A-9999" in messages and "belongs to 张保安" in messages


async def test_header_and_file_problems_are_precise(engine, estate):
    report = await import_file(engine, OFFICE, estate, write_csv(["building", "unit", "buildng", "area"], [["1", "1"]]),
                               sheet="units")
    assert [str(p) for p in report.problems] == [
        "units row 1: unknown column 'buildng' in C1; the units sheet has: " + ", ".join(
            ["building", "unit", "floor", "layout", "built_area", "usable_area", "use", "status", "resident_name",
             "relation", "phone", "email", "identity_number", "move_in"]),
        "units row 1: unknown column 'area' in D1; the units sheet has: " + ", ".join(
            ["building", "unit", "floor", "layout", "built_area", "usable_area", "use", "status", "resident_name",
             "relation", "phone", "email", "identity_number", "move_in"])]
    missing = await import_file(engine, OFFICE, estate, write_csv(["unit"], [["1"]]), sheet="units")
    assert [p.message for p in missing.problems] == ["the units sheet needs the column(s) building"]

    with pytest.raises(FileProblem, match="not one"):
        await import_file(engine, OFFICE, estate, b"building,unit\n", filename="units.xlsx")
    with pytest.raises(FileProblem, match="cannot be opened"):
        await import_file(engine, OFFICE, estate, b"PK\x03\x04garbage", filename="units.xlsx")
    with pytest.raises(FileProblem, match="cannot tell which sheet"):
        await import_file(engine, OFFICE, estate, "电话\n13800138000\n".encode())


async def test_gbk_csv_from_chinese_excel_is_read(engine, estate):
    data = "楼栋,房号,姓名,手机\r\n1,0101,李伟,13800138000\r\n".encode("gbk")
    report = await import_file(engine, OFFICE, estate, data, filename="房屋.csv")
    assert report.problems == [] and report.created == {"unit": 1, "resident": 1, "occupancy": 1}
