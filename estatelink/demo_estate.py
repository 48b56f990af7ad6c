"""The demo estate's records, brought in the way an office would: a workbook through the import API, then
doors, door groups, cards and meters through the access and metering APIs.

Everything goes through central's HTTP API with the admin's token, so the demo passes the same permission
checks, validation and audit as real use; running the demo again imports the same workbook as a no-op and
leaves what exists (a 409, or found by a look first) as it is.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import aiohttp

from central.transfer.tables import write_xlsx
from drivers.wiegand.codec import card_id
from estatelink.demo_devices import DOORS, METERS
from simulators import wiegand_reader
from simulators.card_reader import demo_cards

ESTATE = {"code": "demo", "name": "演示花园 Demo Gardens", "address": "1 Demo Road", "timezone": "Asia/Shanghai"}
SURNAMES = "李王张刘陈杨黄赵周吴"
GIVEN = ("伟", "芳", "娜", "敏", "静", "强", "磊", "洋", "艳", "军", "杰", "涛")
RESIDENT_LOGIN = "resident"
"""The demo's resident account: the owner of unit 1-0101."""
TAGS = demo_cards("em4100", 5)
"""What the main gate's reader presents, in turn (its simulator's --cards 5)."""
FOBS = [card_id(facility, number) for facility, number in wiegand_reader.demo_cards(26, 5)]
"""What the side gate's Wiegand reader and the garage's OSDP reader present: their simulators share these fobs."""
EVERYWHERE, GATES = ["gates", "garage"], ["gates"]
CARDS = (  # card, holder (staff name or resident phone), door groups; TAGS[4] and FOBS[4] stay unissued: denied
    (TAGS[0], "张保安", EVERYWHERE), (TAGS[1], "王保安", EVERYWHERE),
    (TAGS[2], "13800130000", EVERYWHERE), (TAGS[3], "13800130001", GATES),
    (FOBS[0], "13800130002", EVERYWHERE), (FOBS[1], "13800130012", EVERYWHERE),
    (FOBS[2], "13800130024", GATES),  # at the garage: wrong_door_group
    (FOBS[3], "刘师傅", EVERYWHERE),
)
WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


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
    staff = [["张保安", "13700137000", "保安", "白班 08:00-20:00", "是", "2024-01-15", TAGS[0]],
             ["王保安", "13700137001", "保安", "夜班 20:00-08:00", "是", "2024-03-01", TAGS[1]],
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
    """Create the estate, import its workbook, add the attendance point, a resident login, doors, cards, meters."""
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        await _call(session, "POST", f"{base}/estates", json=ESTATE, ok=(201, 409))
        _, report = await _call(session, "POST", f"{base}/estates/demo/import", params={"filename": "demo.xlsx"},
                                data=demo_workbook())
        await _call(session, "POST", f"{base}/estates/demo/attendance-points", ok=(201, 409), json={
            "gateway": "gate-1", "device": "main-gate-reader", "direction": "toggle", "name": "正门 Main gate"})
        _, users = await _call(session, "GET", f"{base}/users")
        if not any(user["username"] == RESIDENT_LOGIN for user in users["items"]):  # a taken name is a 400
            await _call(session, "POST", f"{base}/users", json={
                "username": RESIDENT_LOGIN, "password": password, "role": "resident", "estates": ["demo"],
                "resident_id": await _resident(session, base, "13800130000")})
        report["access"] = await seed_access(session, base)
        report["meters"] = await seed_meters(session, base)
    return report


async def _resident(session: aiohttp.ClientSession, base: str, phone: str) -> int:
    _, found = await _call(session, "GET", f"{base}/estates/demo/search", params={"q": phone})
    return next(hit["id"] for hit in found["hits"] if hit["type"] == "resident")


async def seed_access(session: aiohttp.ClientSession, base: str) -> int:
    """An always-open schedule, door groups, gate-1's three doors, and cards; returns how many cards were issued."""
    estate = f"{base}/estates/demo/access"
    await _call(session, "POST", f"{estate}/schedules", ok=(201, 409), json={
        "code": "always", "name": "全天 Always", "weekly": {day: [["00:00", "00:00"]] for day in WEEK}})
    for code, name in (("gates", "大门 Gates"), ("garage", "车库 Garage")):
        await _call(session, "POST", f"{estate}/door-groups", ok=(201, 409), json={"code": code, "name": name})
    for door in DOORS:
        await _call(session, "POST", f"{estate}/doors", ok=(201, 409), json={
            "code": door.code, "gateway": "gate-1", "name": door.name, "readers": [door.reader],
            "groups": {"garage" if door.code == "garage" else "gates": "always"}})
    _, staff = await _call(session, "GET", f"{base}/estates/demo/staff", params={"active": "true"})
    staff_ids = {member["name"]: member["id"] for member in staff["items"]}
    issued = 0
    for card, holder, groups in CARDS:
        who = {"staff_id": staff_ids[holder]} if holder in staff_ids else \
            {"resident_id": await _resident(session, base, holder)}
        status, _ = await _call(session, "POST", f"{estate}/cards", ok=(201, 409), json={
            "card": card, "door_groups": groups, "note": "demo", **who})
        issued += status == 201
    return issued


async def seed_meters(session: aiohttp.ClientSession, base: str) -> int:
    """A meter point per METERS entry on its unit, with the meter bound to gate-1; returns how many were fitted."""
    _, listed = await _call(session, "GET", f"{base}/estates/demo/meter-points", params={"limit": "1000"})
    points = {point["name"]: point for point in listed["items"]}
    units: dict[tuple[str, str], int] = {}
    for building in sorted({meter.building for meter in METERS}):
        _, found = await _call(session, "GET", f"{base}/estates/demo/units",
                               params={"building": building, "limit": "1000"})
        units.update({(unit["building"], unit["number"]): unit["id"] for unit in found["items"]})
    fitted = 0
    for meter in METERS:
        name = f"{meter.building}-{meter.unit} {'电 power' if meter.kind == 'electricity' else '水 water'}"
        point = points.get(name)
        if point is None:
            _, point = await _call(session, "POST", f"{base}/estates/demo/meter-points", json={
                "kind": meter.kind, "name": name, "unit_id": units[(meter.building, meter.unit)],
                "register_limit": meter.register_limit, "max_per_day": meter.max_per_day})
        if point.get("meter_id") is None:
            await _call(session, "POST", f"{base}/meter-points/{point['id']}/meters", json={
                "serial": meter.serial, "first_reading": meter.first_reading, "gateway": "gate-1",
                "device": meter.id, "installed_at": datetime.now(timezone.utc).isoformat(),
                **({"register": meter.register} if meter.register else {})})
            fitted += 1
    return fitted
