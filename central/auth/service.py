"""Accounts without HTTP: create users, log in with lock-out, sessions, API tokens, password change.

Argon2id costs about 0.1 s of CPU a password: it runs in a worker thread, so logins never stall the event loop
that serves the consoles' live streams and takes in the gateways' events."""
from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.auth.audit import record_change
from central.auth.models import ApiToken, AuthSession, User, UserEstate
from central.auth.passwords import check_strength, hash_password, needs_rehash, verify_password
from central.auth.principal import Principal
from central.auth.roles import Role
from estatelink import wire

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=12)


class AuthError(Exception):
    """Login or token refused; the message is safe to show (it never says which part was wrong)."""


class AccountLocked(AuthError):
    def __init__(self, until: datetime) -> None:
        super().__init__(f"too many failed logins; the account is locked until {until.isoformat()}")
        self.until = until


def _digest(token: str) -> str:
    """The stored form of a session or API token; any header text hashes (undecodable bytes too) and so is
    simply not found."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


@dataclass(frozen=True, slots=True)
class NewUser:
    username: str
    password: str
    role: Role
    estates: frozenset[str] = frozenset()
    display_name: str = ""
    resident_id: int | None = None
    staff_id: int | None = None


async def create_user(conn: AsyncConnection, actor: Principal, new: NewUser) -> int:
    """Create an account; every role but admin must name at least one estate."""
    check_strength(new.password, new.username)
    if new.role != Role.ADMIN and not new.estates:
        raise ValueError(f"a {new.role} account needs at least one estate")
    if new.role == Role.RESIDENT and new.resident_id is None:
        raise ValueError("a resident account must be linked to a resident record (resident_id)")
    now = wire.utc_now()
    password_hash = await asyncio.to_thread(hash_password, new.password)
    user_id = (await conn.execute(insert(User).values(
        username=new.username, display_name=new.display_name, password_hash=password_hash,
        role=str(new.role), active=True, resident_id=new.resident_id, staff_id=new.staff_id, failed_logins=0,
        created_at=now, password_changed_at=now).returning(User.id))).scalar_one()
    if new.estates:
        await conn.execute(insert(UserEstate), [{"user_id": user_id, "estate": e} for e in sorted(new.estates)])
    after = {"username": new.username, "role": str(new.role), "estates": sorted(new.estates),
             "resident_id": new.resident_id, "staff_id": new.staff_id}
    await record_change(conn, actor, "user.create", "user", user_id, None, None, after)
    return user_id


async def principal_for(conn: AsyncConnection, user: Any, session_id: str | None = None) -> Principal:
    estates = None
    if user.role != Role.ADMIN:
        rows = await conn.execute(select(UserEstate.estate).where(UserEstate.user_id == user.id))
        estates = frozenset(rows.scalars())
    return Principal(user.id, user.username, Role(user.role), estates, user.resident_id, user.staff_id, session_id)


async def login(conn: AsyncConnection, username: str, password: str) -> User:
    """Check a password, counting failures; the fifth in a row locks the account for 15 minutes."""
    user = (await conn.execute(select(User.__table__).where(User.username == username))).one_or_none()
    now = wire.utc_now()
    if user is None:
        await asyncio.to_thread(verify_password, None, password)
        raise AuthError("wrong username or password")
    locked_until = _aware(user.locked_until)
    if locked_until and locked_until > now:
        raise AccountLocked(locked_until)
    if not user.active or not await asyncio.to_thread(verify_password, user.password_hash, password):
        await _count_failure(conn, user, now)
        raise AuthError("wrong username or password")
    values = {"failed_logins": 0, "locked_until": None}
    if needs_rehash(user.password_hash):
        values["password_hash"] = await asyncio.to_thread(hash_password, password)
    still_open = (User.locked_until.is_(None)) | (User.locked_until <= now)
    cleared = await conn.execute(update(User).where(User.id == user.id, still_open).values(**values))
    if cleared.rowcount == 0:  # guesses sent alongside this one locked the account while it was checked
        locked = (await conn.execute(select(User.locked_until).where(User.id == user.id))).scalar_one()
        raise AccountLocked(_aware(locked))
    return user


async def _count_failure(conn: AsyncConnection, user: Any, now: datetime) -> None:
    """Count one failed login in the database itself (concurrent guesses each count); the fifth locks."""
    failures = (await conn.execute(update(User).where(User.id == user.id).values(
        failed_logins=User.failed_logins + 1).returning(User.failed_logins))).scalar_one()
    if failures < MAX_FAILED_LOGINS:
        return
    lock = now + LOCKOUT
    await conn.execute(update(User).where(User.id == user.id).values(failed_logins=0, locked_until=lock))
    actor = Principal(user.id, user.username, Role(user.role), None)
    await record_change(conn, actor, "user.locked", "user", user.id, None, None,
                        {"locked_until": lock}, detail=f"{MAX_FAILED_LOGINS} failed logins")


async def start_session(conn: AsyncConnection, user_id: int) -> tuple[str, str]:
    """A new browser session: returns (cookie token, CSRF token); only a hash of the cookie is stored."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = wire.utc_now()
    await conn.execute(insert(AuthSession).values(token_hash=_digest(token), user_id=user_id, csrf_token=csrf,
                                                  created_at=now, expires_at=now + SESSION_LIFETIME))
    return token, csrf


async def end_session(conn: AsyncConnection, token: str) -> None:
    await conn.execute(delete(AuthSession).where(AuthSession.token_hash == _digest(token)))


async def resolve_session(conn: AsyncConnection, token: str) -> tuple[Principal, str] | None:
    """The principal and CSRF token of a live session, or None."""
    row = (await conn.execute(select(AuthSession.__table__).where(AuthSession.token_hash == _digest(token)))).one_or_none()
    if row is None or _aware(row.expires_at) <= wire.utc_now():
        return None
    user = (await conn.execute(select(User.__table__).where(User.id == row.user_id))).one_or_none()
    if user is None or not user.active:
        return None
    return await principal_for(conn, user, session_id=row.token_hash), row.csrf_token


async def create_token(conn: AsyncConnection, actor: Principal, name: str, days: int | None = 90) -> str:
    """A bearer token for the API, shown once; only its hash is stored."""
    token = "elk_" + secrets.token_urlsafe(32)
    now = wire.utc_now()
    token_id = (await conn.execute(insert(ApiToken).values(
        token_hash=_digest(token), user_id=actor.user_id, name=name, created_at=now, revoked=False,
        expires_at=now + timedelta(days=days) if days else None).returning(ApiToken.id))).scalar_one()
    await record_change(conn, actor, "token.create", "api_token", token_id, None, None,
                        {"name": name, "days": days})
    return token


async def resolve_token(conn: AsyncConnection, token: str) -> Principal | None:
    found = (await conn.execute(select(User.__table__, ApiToken.revoked, ApiToken.expires_at.label("token_expires"))
                                .join(ApiToken, ApiToken.user_id == User.id)
                                .where(ApiToken.token_hash == _digest(token)))).one_or_none()
    if found is None or found.revoked or not found.active or (
            found.token_expires and _aware(found.token_expires) <= wire.utc_now()):
        return None
    return await principal_for(conn, found)


async def change_password(conn: AsyncConnection, actor: Principal, current: str, new: str) -> None:
    """Change one's own password; every other session of the user ends."""
    user = (await conn.execute(select(User.__table__).where(User.id == actor.user_id))).one()
    if not await asyncio.to_thread(verify_password, user.password_hash, current):
        raise AuthError("the current password is wrong")
    check_strength(new, user.username)
    await conn.execute(update(User).where(User.id == user.id).values(
        password_hash=await asyncio.to_thread(hash_password, new), password_changed_at=wire.utc_now()))
    await conn.execute(delete(AuthSession).where(AuthSession.user_id == user.id,
                                                 AuthSession.token_hash != (actor.session_id or "")))
    await record_change(conn, actor, "user.password_change", "user", user.id, None, None, None)


async def resolve_session_free_principal(conn: AsyncConnection, user_id: int) -> Principal:
    """The principal of a user by id, for tools that act as that user without logging in."""
    user = (await conn.execute(select(User.__table__).where(User.id == user_id))).one()
    return await principal_for(conn, user)
