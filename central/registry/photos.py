"""Holder photos: one JPEG or PNG per resident or member of staff, for the guards' console.

The bytes are checked (`images.check_photo`) before they get here. Every change is audited with the photo's
sha256, size and dimensions, never its bytes.
"""
from __future__ import annotations

import hashlib
from typing import Any, Literal

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from central.auth.principal import Principal
from central.registry.common import audit, plain
from central.registry.errors import NotFound
from central.registry.images import Image
from central.registry.models import HolderPhoto, Resident, Staff
from estatelink import wire

HolderKind = Literal["resident", "staff"]
_HOLDERS = {"resident": (Resident, "resident"), "staff": (Staff, "staff member")}
_META = (HolderPhoto.holder_kind, HolderPhoto.holder_id, HolderPhoto.estate, HolderPhoto.content_type,
         HolderPhoto.size, HolderPhoto.width, HolderPhoto.height, HolderPhoto.sha256, HolderPhoto.updated_at)


async def holder_estate(conn: AsyncConnection, kind: HolderKind, holder_id: int) -> str:
    """The estate of the resident or member of staff, or NotFound."""
    model, what = _HOLDERS[kind]
    estate = await conn.scalar(select(model.estate).where(model.id == holder_id))
    if estate is None:
        raise NotFound(f"no {what} with id {holder_id}")
    return estate


async def photo_info(conn: AsyncConnection, kind: HolderKind, holder_id: int) -> dict[str, Any] | None:
    """What is known of the holder's photo without its bytes, or None when they have none."""
    row = (await conn.execute(select(*_META).where(HolderPhoto.holder_kind == kind,
                                                   HolderPhoto.holder_id == holder_id))).first()
    return None if row is None else plain(row)


async def get_photo(conn: AsyncConnection, kind: HolderKind, holder_id: int) -> dict[str, Any]:
    """The photo with its bytes (`data`), or NotFound."""
    row = (await conn.execute(select(HolderPhoto).where(HolderPhoto.holder_kind == kind,
                                                        HolderPhoto.holder_id == holder_id))).first()
    if row is None:
        raise NotFound(f"{_HOLDERS[kind][1]} {holder_id} has no photo")
    return plain(row)


async def set_photo(conn: AsyncConnection, actor: Principal, kind: HolderKind, holder_id: int,
                    image: Image) -> dict[str, Any]:
    """Store the holder's photo, replacing any before; returns its description (no bytes)."""
    estate = await holder_estate(conn, kind, holder_id)
    before = await photo_info(conn, kind, holder_id)
    values = {"estate": estate, "content_type": image.content_type, "data": image.data, "size": len(image.data),
              "width": image.width, "height": image.height, "sha256": hashlib.sha256(image.data).hexdigest(),
              "updated_at": wire.utc_now()}
    if before is None:
        await conn.execute(insert(HolderPhoto).values(holder_kind=kind, holder_id=holder_id, **values))
    else:
        await conn.execute(update(HolderPhoto).where(HolderPhoto.holder_kind == kind,
                                                     HolderPhoto.holder_id == holder_id).values(**values))
    after = await photo_info(conn, kind, holder_id)
    await audit(conn, actor, f"{kind}_photo", "create" if before is None else "update", holder_id, estate, before,
                after)
    return after  # type: ignore[return-value]  # just written


async def delete_photo(conn: AsyncConnection, actor: Principal, kind: HolderKind, holder_id: int) -> None:
    """Remove the holder's photo, or NotFound when they have none."""
    if not await forget_photo(conn, actor, kind, holder_id):
        raise NotFound(f"{_HOLDERS[kind][1]} {holder_id} has no photo")


async def forget_photo(conn: AsyncConnection, actor: Principal, kind: HolderKind, holder_id: int) -> bool:
    """Remove the holder's photo if they have one (the holder is being deleted); True when there was one."""
    before = await photo_info(conn, kind, holder_id)
    if before is None:
        return False
    await conn.execute(delete(HolderPhoto).where(HolderPhoto.holder_kind == kind, HolderPhoto.holder_id == holder_id))
    await audit(conn, actor, f"{kind}_photo", "delete", holder_id, before["estate"], before, None)
    return True
