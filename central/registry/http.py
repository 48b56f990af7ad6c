"""What the registry's routes share: JSON out (decimals as strings), errors mapped, ids parsed, confinement."""
from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from central.api.errors import BadRequest, json_error
from central.api.params import decode_cursor, encode_cursor, parse_int
from central.auth.principal import PRINCIPAL, Principal
from central.auth.roles import Role
from central.auth.scope import can_see
from central.keys import ENGINE
from central.registry.errors import Conflict, Invalid, NotFound
from central.registry.identity import DataKeyError
from central.registry.residents import units_of_resident

log = logging.getLogger("central.registry")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_ID = 2**63 - 1


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def dumps(value: Any) -> str:
    """JSON with decimals as exact strings and UTC times ending in Z."""
    return orjson.dumps(value, default=_default, option=orjson.OPT_UTC_Z).decode()


def reply(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=dumps)


def endpoint(handler: Handler) -> Handler:
    """Turn the services' errors into answers: NotFound 404, Conflict 409, Invalid 400."""
    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except NotFound as exc:
            raise json_error(web.HTTPNotFound, "not_found", exc.message) from None
        except Conflict as exc:
            raise json_error(web.HTTPConflict, "conflict", exc.message) from None
        except Invalid as exc:
            raise BadRequest(exc.message) from None
        except DataError:  # a value the body's types let through but the column cannot hold
            raise BadRequest("a value is too long or out of range for what the registry stores") from None
        except IntegrityError:  # two writers raced past the service's own checks
            raise json_error(web.HTTPConflict, "conflict", "another change to the same record came first; "
                                                           "reload and try again") from None
        except DataKeyError as exc:
            log.error("identity numbers cannot be protected or read: %s", exc)
            raise json_error(web.HTTPServiceUnavailable, "data_key",
                             "the data key is not usable; see the central log") from None
    return wrapped


def engine(request: web.Request) -> AsyncEngine:
    return request.config_dict[ENGINE]


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def is_resident(who: Principal) -> bool:
    return who.role == Role.RESIDENT


def path_id(request: web.Request, name: str = "id") -> int:
    """A numeric path id; the route pattern admits only digits, so too large is simply not found."""
    value = int(request.match_info[name])
    if value > MAX_ID:
        raise NotFound(f"no record with id {value}")
    return value


def check_query(request: web.Request, allowed: set[str]) -> None:
    unknown = sorted(set(request.query) - allowed)
    if unknown:
        raise BadRequest(f"unknown parameter(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed)) or 'none'}")


def query_int(request: web.Request, name: str) -> int | None:
    if name not in request.query:
        return None
    return parse_int(name, request.query[name], 0, 1, MAX_ID)


def page_params(request: web.Request) -> tuple[int | None, int]:
    """(after id, limit) from cursor and limit."""
    return decode_cursor(request.query.get("cursor"), "asc"), parse_int("limit", request.query.get("limit"), 100, 1,
                                                                       1000)


def page(items: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    return {"items": items, "next_cursor": encode_cursor(items[-1]["id"], "asc") if len(items) == limit else None}


async def own_units(conn: AsyncConnection, who: Principal) -> set[int] | None:
    """The units a resident account may see (where they live now); None for staff roles."""
    if not is_resident(who):
        return None
    return await units_of_resident(conn, who.resident_id) if who.resident_id is not None else set()


def check_own_resident(who: Principal, resident_id: int) -> None:
    """A resident reaches only their own record; anyone else's looks like it does not exist."""
    if is_resident(who) and who.resident_id != resident_id:
        raise NotFound(f"no resident with id {resident_id}")


def confine(who: Principal, record: dict[str, Any], what: str) -> dict[str, Any]:
    """A record of an estate the user may not see answers exactly like a missing one."""
    if not can_see(who, record["estate"]):
        raise NotFound(f"no {what} with id {record['id']}")
    return record
