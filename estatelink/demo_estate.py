"""The demo estate's records, brought in the way an office would: a workbook through the import API.

Everything goes through central's HTTP API with the admin's token, so the demo passes the same permission
checks, validation and audit as real use; running the demo again imports the same workbook as a no-op.
"""
from __future__ import annotations

from typing import Any

import aiohttp

from central.transfer.tables import write_xlsx
from simulators.card_reader import demo_cards

ESTATE = {"code": "demo", "name": "演示花园 Demo Gardens", "address": "1 Demo Road", "timezone": "Asia/Shanghai"}
SURNAMES = "李王张刘陈杨黄赵周吴"
GIVEN = ("伟", "芳", "娜", "敏", "静", "强", "磊", "洋", "艳", "军", "杰", "涛")
RESIDENT_LOGIN = "resident"
"""The demo's resident account: the owner of unit 1-0101."""


def demo_workbook() -> bytes:
    """Three buildings of six floors, two units a floor, an owner each (family in some), staff, parking, cars."""
    buildings = [[str(b), f"{b}号楼", 6] for b in (1, 2, 3)]
    units, vehicles, parking = [], [], []
    n = 0
    for building in (1, 2, 3):
        for floor in range(1, 7):
            for door in (1, 2):
                number = f"{floor:02d}{door:02d}"
                name = SURNAMES[n % 10] + GIVEN[n % 12]
                phone = f"1380013{n:04d}"
                units.append([str(building), number, floor, "3室2厅" if door == 1 else "2室1厅",
                              "120.50" if door == 1 else "89.00", "98.25" if door == 1 else "72.40", "住宅",
                              "已入住", name, "业主", phone, "2023-06-01"])
                if n % 3 == 0:
                    units.append([str(building), number, None, None, None, None, None, None,
                                  SURNAMES[(n + 3) % 10] + GIVEN[(n + 5) % 12], "家属", f"1390013{n:04d}",
                                  "2023-06-01"])
                if n % 4 == 0:
                    parking.append([f"P-{n + 1:03d}", "产权", str(building), number])
                    vehicles.append([f"京A{10000 + n * 7}", phone, "家用轿车"])
                n += 1
    parking += [[f"V-{i:02d}", "临时", None, None] for i in range(1, 6)]
    cards = demo_cards("em4100", 5)
    staff = [["张保安", "13700137000", "保安", "白班 08:00-20:00", "是", "2024-01-15", cards[0]],
             ["王保安", "13700137001", "保安", "夜班 20:00-08:00", "是", "2024-03-01", cards[1]],
             ["刘师傅", "13700137002", "维修", "白班", "是", "2023-09-01", None],
             ["陈阿姨", "13700137003", "保洁", "白班", "是", "2023-09-01", None]]
    return write_xlsx([
        ("楼栋", ["楼栋编号", "名称", "层数"], buildings),
        ("房屋", ["楼栋", "房号", "楼层", "户型", "建筑面积", "使用面积", "用途", "状态", "姓名", "关系", "手机",
                "入住日期"], units),
        ("员工", ["姓名", "电话", "岗位", "班次", "在职", "入职日期", "卡号"], staff),
        ("车位", ["车位号", "类型", "楼栋", "房号"], parking),
        ("车辆", ["车牌", "车主电话", "描述"], vehicles),
    ])


async def _call(session: aiohttp.ClientSession, method: str, url: str, *, ok: tuple[int, ...] = (200, 201),
                **kwargs: Any) -> tuple[int, Any]:
    async with session.request(method, url, **kwargs) as resp:
        body = await resp.json(content_type=None)
        if resp.status not in ok:
            raise RuntimeError(f"demo seeding: {method} {url} answered {resp.status}: {body}")
        return resp.status, body


async def seed_demo_estate(base: str, token: str, password: str) -> dict[str, Any]:
    """Create the estate, import its workbook, mark the gate reader an attendance point, add a resident login."""
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        await _call(session, "POST", f"{base}/estates", json=ESTATE, ok=(201, 409))
        _, report = await _call(session, "POST", f"{base}/estates/demo/import", params={"filename": "demo.xlsx"},
                                data=demo_workbook())
        await _call(session, "POST", f"{base}/estates/demo/attendance-points", ok=(201, 409), json={
            "gateway": "gate-1", "device": "main-gate-reader", "direction": "toggle", "name": "正门 Main gate"})
        _, found = await _call(session, "GET", f"{base}/estates/demo/search", params={"q": "13800130000"})
        owner = next(hit["id"] for hit in found["hits"] if hit["type"] == "resident")
        await _call(session, "POST", f"{base}/users", ok=(201, 409), json={
            "username": RESIDENT_LOGIN, "password": password, "role": "resident", "estates": ["demo"],
            "resident_id": owner})
    return report
