"""Login, logout, who am I, password change, API tokens, user administration and the audit log."""
from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import exists, select, update

from central.api.body import parse_body
from central.api.errors import BadRequest, json_error
from central.api.params import as_utc, decode_cursor, encode_cursor, parse_int
from central.auth import service
from central.auth.audit import record_change
from central.auth.middleware import SESSION_COOKIE
from central.auth.models import AuditEntry, User, UserEstate
from central.auth.passwords import WeakPassword
from central.auth.principal import PRINCIPAL, Principal
from central.auth.roles import Role
from central.auth.scope import estate_clause
from central.keys import ENGINE

routes = web.RouteTableDef()
Username = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.@-]{3,64}$")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginBody(_Body):
    username: str
    password: str


class PasswordBody(_Body):
    current_password: str
    new_password: str


class TokenBody(_Body):
    name: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    days: int | None = Field(90, ge=1, le=3650)


class NewUserBody(_Body):
    username: Username
    password: str
    role: Role
    estates: list[str] = []
    display_name: str = ""
    resident_id: int | None = None
    staff_id: int | None = None


class UserPatchBody(_Body):
    display_name: str | None = None
    active: bool | None = None
    role: Role | None = None
    estates: list[str] | None = None


def _me(principal: Principal) -> dict:
    return {"id": principal.user_id, "username": principal.username, "role": principal.role,
            "estates": None if principal.estates is None else sorted(principal.estates),
            "resident_id": principal.resident_id, "staff_id": principal.staff_id}


def _require_json(request: web.Request) -> None:
    """Refuse a login posted as a form or text/plain: another site's page can send those without CORS, so it
    could log a guard's browser into the attacker's account (login CSRF); it cannot send application/json."""
    if request.content_type != "application/json":
        raise json_error(web.HTTPUnsupportedMediaType, "unsupported_media_type",
                         "send the login as JSON with 'Content-Type: application/json'")


@routes.post("/auth/login", name="auth.login")
async def login(request: web.Request) -> web.Response:
    """Start a browser session; the response carries the CSRF token that unsafe requests must echo."""
    _require_json(request)
    body = await parse_body(request, LoginBody)
    async with request.config_dict[ENGINE].begin() as conn:
        try:
            user = await service.login(conn, body.username, body.password)
        except service.AccountLocked as exc:
            return web.json_response({"error": "locked", "message": str(exc)}, status=423)
        except service.AuthError as exc:
            return web.json_response({"error": "invalid_credentials", "message": str(exc)}, status=401)
        if previous := request.cookies.get(SESSION_COOKIE):
            await service.end_session(conn, previous)  # a login never leaves the browser's old session alive
        token, csrf = await service.start_session(conn, user.id)
        principal = await service.principal_for(conn, user)
    response = web.json_response({"user": _me(principal), "csrf_token": csrf})
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Strict", secure=request.secure,
                        max_age=int(service.SESSION_LIFETIME.total_seconds()), path="/")
    return response


@routes.post("/auth/logout", name="auth.logout")
async def logout(request: web.Request) -> web.Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        async with request.config_dict[ENGINE].begin() as conn:
            await service.end_session(conn, token)
    response = web.json_response({"ok": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@routes.get("/auth/me", name="auth.me")
async def me(request: web.Request) -> web.Response:
    return web.json_response(_me(request[PRINCIPAL]))


@routes.post("/auth/password", name="auth.password")
async def change_password(request: web.Request) -> web.Response:
    body = await parse_body(request, PasswordBody)
    async with request.config_dict[ENGINE].begin() as conn:
        try:
            await service.change_password(conn, request[PRINCIPAL], body.current_password, body.new_password)
        except service.AuthError as exc:
            raise BadRequest(f"current_password: {exc}") from None
        except WeakPassword as exc:
            raise BadRequest(f"new_password: {exc}") from None
    return web.json_response({"ok": True})


@routes.post("/auth/tokens", name="auth.tokens.create")
async def create_token(request: web.Request) -> web.Response:
    """A bearer token for scripts and integrations, shown only in this response."""
    body = await parse_body(request, TokenBody)
    async with request.config_dict[ENGINE].begin() as conn:
        token = await service.create_token(conn, request[PRINCIPAL], body.name, body.days)
    return web.json_response({"token": token, "name": body.name}, status=201)


def _check_grant(actor: Principal, role: Role, estates: set[str]) -> None:
    """Managers hand out staff and resident accounts within their own estates only."""
    if actor.role == Role.ADMIN:
        return
    if role in (Role.ADMIN, Role.MANAGER):
        raise web.HTTPForbidden(text='{"error": "forbidden", "message": "only a system admin grants that role"}',
                                content_type="application/json")
    outside = estates - (actor.estates or frozenset())
    if outside or not estates:
        raise BadRequest(f"estates: you may grant only your own estates, not {sorted(outside) or '[]'}")


async def _user_json(conn, user_id: int) -> dict | None:  # noqa: ANN001
    user = (await conn.execute(select(User.__table__).where(User.id == user_id))).one_or_none()
    if user is None:
        return None
    estates = sorted((await conn.execute(select(UserEstate.estate).where(UserEstate.user_id == user_id))).scalars())
    return {"id": user.id, "username": user.username, "display_name": user.display_name, "role": user.role,
            "active": user.active, "estates": estates, "resident_id": user.resident_id, "staff_id": user.staff_id,
            "locked_until": as_utc(user.locked_until)}


def _visible_users(actor: Principal):  # noqa: ANN202
    query = select(User.id).order_by(User.id)
    if actor.estates is not None:
        query = query.where(exists().where(UserEstate.user_id == User.id, estate_clause(actor, UserEstate.estate)))
    return query


@routes.get("/users", name="users.list")
async def list_users(request: web.Request) -> web.Response:
    async with request.config_dict[ENGINE].connect() as conn:
        ids = (await conn.execute(_visible_users(request[PRINCIPAL]))).scalars().all()
        return web.json_response({"items": [await _user_json(conn, i) for i in ids]})


@routes.post("/users", name="users.create")
async def create_user(request: web.Request) -> web.Response:
    body = await parse_body(request, NewUserBody)
    actor = request[PRINCIPAL]
    _check_grant(actor, body.role, set(body.estates))
    async with request.config_dict[ENGINE].begin() as conn:
        if (await conn.execute(select(User.id).where(User.username == body.username))).first():
            raise json_error(web.HTTPConflict, "conflict", f"username: {body.username!r} is taken; choose another "
                             "(usernames are unique across all estates)")
        try:
            user_id = await service.create_user(conn, actor, service.NewUser(
                body.username, body.password, body.role, frozenset(body.estates), body.display_name,
                body.resident_id, body.staff_id))
        except WeakPassword as exc:
            raise BadRequest(f"password: {exc}") from None
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        return web.json_response(await _user_json(conn, user_id), status=201)


@routes.patch("/users/{user_id:\\d+}", name="users.update")
async def update_user(request: web.Request) -> web.Response:
    body = await parse_body(request, UserPatchBody)
    actor = request[PRINCIPAL]
    user_id = int(request.match_info["user_id"])
    async with request.config_dict[ENGINE].begin() as conn:
        visible = (await conn.execute(_visible_users(actor).where(User.id == user_id))).first()
        before = await _user_json(conn, user_id) if visible else None
        if before is None:
            raise web.HTTPNotFound(text='{"error": "not_found", "message": "no such user"}',
                                   content_type="application/json")
        role = body.role or Role(before["role"])
        estates = set(body.estates if body.estates is not None else before["estates"])
        _check_grant(actor, role, estates)
        if Role(before["role"]) in (Role.ADMIN, Role.MANAGER) and actor.role != Role.ADMIN:
            raise web.HTTPForbidden(text='{"error": "forbidden", "message": "only a system admin changes that user"}',
                                    content_type="application/json")
        values = body.model_dump(exclude_none=True, exclude={"estates"})
        if values:
            await conn.execute(update(User).where(User.id == user_id).values(
                **{k: str(v) if k == "role" else v for k, v in values.items()}))
        if body.estates is not None:
            await conn.execute(UserEstate.__table__.delete().where(UserEstate.user_id == user_id))
            if estates:
                await conn.execute(UserEstate.__table__.insert(), [{"user_id": user_id, "estate": e}
                                                                   for e in sorted(estates)])
        after = await _user_json(conn, user_id)
        await record_change(conn, actor, "user.update", "user", user_id, None, before, after)
    return web.json_response(after)


@routes.get("/audit", name="audit.list")
async def list_audit(request: web.Request) -> web.Response:
    """The audit trail, newest first; managers see entries of their own estates."""
    actor = request[PRINCIPAL]
    query = request.query
    limit = parse_int("limit", query.get("limit"), 100, 1, 1000)
    after = decode_cursor(query.get("cursor"), "desc")
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit + 1)
    if actor.estates is not None:
        stmt = stmt.where(estate_clause(actor, AuditEntry.estate))
    for name in ("estate", "entity", "entity_id", "action"):
        if name in query:
            stmt = stmt.where(getattr(AuditEntry, name) == query[name])
    if after is not None:
        stmt = stmt.where(AuditEntry.id < after)
    async with request.config_dict[ENGINE].connect() as conn:
        rows = (await conn.execute(stmt)).all()
    more, rows = len(rows) > limit, rows[:limit]
    return web.json_response({"items": [
        {"id": r.id, "at": as_utc(r.at), "actor": r.actor, "role": r.role, "estate": r.estate, "action": r.action,
         "entity": r.entity, "entity_id": r.entity_id, "before": r.before, "after": r.after, "detail": r.detail}
        for r in rows], "next_cursor": encode_cursor(rows[-1].id, "desc") if more else None})
