"""HTTP routes for doors, door groups and schedules, and remote door opens."""
from __future__ import annotations

import aiomqtt
from aiohttp import web

from central.access import doors, groups, remote
from central.access.errors import BrokerUnavailable
from central.access.http import estate_change, item_change, sync_of
from central.api.body import parse_body
from central.api.params import decode_cursor, encode_cursor, parse_int
from central.auth.scope import check_estate
from central.registry.crud import estate_list, item_get
from central.registry.http import check_query, confine, endpoint, engine, path_id, principal, reply

custom = web.RouteTableDef()
ID = r"{id:\d+}"
DOOR, GROUP, SCHEDULE = f"/access/doors/{ID}", f"/access/door-groups/{ID}", f"/access/schedules/{ID}"


def newest_first(request: web.Request) -> tuple[int | None, int]:
    """(before id, limit) from cursor and limit, for lists that run newest first."""
    return decode_cursor(request.query.get("cursor"), "desc"), parse_int("limit", request.query.get("limit"), 100, 1,
                                                                        1000)


def newest_page(items: list[dict], limit: int) -> dict:
    """A page of a newest-first list with the cursor to the next one."""
    return {"items": items, "next_cursor": encode_cursor(items[-1]["id"], "desc") if len(items) == limit else None}


@custom.post(f"/access/doors/{ID}/open", name="access.doors.open")
@endpoint
async def open_door(request: web.Request) -> web.Response:
    """Open a door from the console: a door_open command that the gateway refuses once 30 s old."""
    who = principal(request)
    body = await parse_body(request, remote.OpenBody)
    async with engine(request).begin() as conn:
        door = confine(who, await doors.get_door(conn, path_id(request)), "door")
        record, payload = await remote.record_open(conn, who, door, body)
    try:
        await sync_of(request).publish_command(door["estate"], door["gateway"], "door_open", payload)
    except (aiomqtt.MqttError, BrokerUnavailable, OSError) as exc:
        async with engine(request).begin() as conn:
            record = await remote.mark_unsent(conn, who, record["id"], f"not sent, the broker is unreachable: {exc}")
        return reply(record, 503)
    return reply(record, 202)


@custom.get("/estates/{estate}/access/remote-opens", name="access.remote_opens.list")
@endpoint
async def list_remote_opens(request: web.Request) -> web.Response:
    """Remote opens of the estate, newest first, with each gateway's answer."""
    estate = request.match_info["estate"]
    check_estate(principal(request), estate)
    check_query(request, {"door", "cursor", "limit"})
    before, limit = newest_first(request)
    async with engine(request).connect() as conn:
        items = await remote.list_opens(conn, estate, door=request.query.get("door"), before_id=before, limit=limit)
    return reply(newest_page(items, limit))


routes = [
    *custom,
    estate_list("/estates/{estate}/access/doors", "access.doors.list", "Doors of the estate, by gateway if asked",
                doors.list_doors, query=("gateway",)),
    estate_change("/estates/{estate}/access/doors", "access.doors.create",
                  "Add a door: its gateway, readers, timings and door groups", doors.DoorCreate, doors.create_door),
    item_get(DOOR, "access.doors.get", "A door with its door groups and schedules", doors.get_door, "door"),
    item_change("PATCH", DOOR, "access.doors.update", "Change a door; groups, when given, replace its memberships",
                doors.get_door, "door", doors.update_door, doors.DoorUpdate),
    item_change("DELETE", DOOR, "access.doors.delete", "Remove a door", doors.get_door, "door", doors.delete_door),
    item_get(f"/access/remote-opens/{ID}", "access.remote_opens.get", "A remote open and the gateway's answer",
             remote.get_open, "remote open"),
    estate_list("/estates/{estate}/access/door-groups", "access.door_groups.list", "Door groups of the estate",
                groups.list_groups),
    estate_change("/estates/{estate}/access/door-groups", "access.door_groups.create", "Add a door group",
                  groups.GroupCreate, groups.create_group),
    item_get(GROUP, "access.door_groups.get", "A door group", groups.get_group, "door group"),
    item_change("PATCH", GROUP, "access.door_groups.update", "Rename a door group or change its building",
                groups.get_group, "door group", groups.update_group, groups.GroupUpdate),
    item_change("DELETE", GROUP, "access.door_groups.delete", "Remove a door group no door or live card uses",
                groups.get_group, "door group", groups.delete_group),
    estate_list("/estates/{estate}/access/schedules", "access.schedules.list", "Schedules of the estate",
                groups.list_schedules),
    estate_change("/estates/{estate}/access/schedules", "access.schedules.create",
                  "Add a schedule: weekly intervals and holidays in the estate's time zone",
                  groups.ScheduleCreate, groups.create_schedule),
    item_get(SCHEDULE, "access.schedules.get", "A schedule", groups.get_schedule, "schedule"),
    item_change("PATCH", SCHEDULE, "access.schedules.update", "Change a schedule", groups.get_schedule, "schedule",
                groups.update_schedule, groups.ScheduleUpdate),
    item_change("DELETE", SCHEDULE, "access.schedules.delete", "Remove a schedule no door follows",
                groups.get_schedule, "schedule", groups.delete_schedule),
]
