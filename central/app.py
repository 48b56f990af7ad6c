"""The central aiohttp application: factory, shared resources in cleanup contexts, the API as a sub-app."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from central.access.sync import SYNC, AccessSync
from central.api.errors import error_middleware
from central.api.mount import routes as api_routes
from central.auth.middleware import auth_middleware
from central.auth.permissions import PERMISSIONS, PUBLIC
from central.billing.runner import billing_context
from central.broker import EmbeddedBroker
from central.config import CentralConfig
from central.console import routes as console
from central.db import create_engine, migrate
from central.ingest.service import Ingest
from central.keys import CONFIG, ENGINE, INGEST, LIVE
from central.live import LiveFeed
from central.notify.sender import notify_sender_ctx

log = logging.getLogger("central")


async def _database(app: web.Application) -> AsyncIterator[None]:
    url = app[CONFIG].database.url
    await migrate(url)
    engine: AsyncEngine = create_engine(url)
    app[ENGINE] = engine
    yield
    await engine.dispose()


async def _embedded_broker(app: web.Application) -> AsyncIterator[None]:
    broker = None
    if app[CONFIG].broker.embedded:
        broker = EmbeddedBroker(app[CONFIG].broker.embedded_port)
        await broker.start()
    yield
    if broker is not None:
        await broker.stop()


async def _ingest(app: web.Application) -> AsyncIterator[None]:
    ingest = Ingest(app[CONFIG], app[ENGINE])
    ingest.live = app[LIVE]
    app[INGEST] = ingest
    task = asyncio.create_task(ingest.run(), name="ingest")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _access_sync(app: web.Application) -> AsyncIterator[None]:
    ingest = app[INGEST]
    sync = AccessSync(app[ENGINE], ingest.publish)
    ingest.state_listeners.append(sync.on_state)
    ingest.reply_handlers.append(sync.on_reply)
    ingest.event_listeners.append(sync.on_events)
    app[SYNC] = sync
    task = asyncio.create_task(sync.run(), name="access-sync")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _close_live_streams(app: web.Application) -> None:
    app[LIVE].close()  # open consoles would otherwise hold shutdown until its timeout


def create_app(config: CentralConfig) -> web.Application:
    """Build central: database, (embedded) broker, ingest, and the REST API under /api/v1."""
    app = web.Application(middlewares=[error_middleware], client_max_size=1024 * 1024)
    app[CONFIG] = config
    app[LIVE] = LiveFeed()
    app.cleanup_ctx.extend([_database, _embedded_broker, _ingest, _access_sync])
    app.cleanup_ctx.append(billing_context)  # the bill-run runner; its schedule only when configured
    app.cleanup_ctx.append(notify_sender_ctx)  # sends queued notices; off unless notify.smtp is configured
    app.on_shutdown.append(_close_live_streams)
    api = web.Application(middlewares=[error_middleware, auth_middleware])
    api.add_routes(api_routes)
    check_every_route_is_governed(api)
    app.add_subapp("/api/v1", api)
    console.add_routes(app)
    return app


def check_every_route_is_governed(api: web.Application) -> None:
    """Refuse to start with a route that is neither public nor in the permission table."""
    for route in api.router.routes():
        name = route.name
        if route.method == "HEAD":
            continue
        if name is None or (name not in PUBLIC and name not in PERMISSIONS):
            raise RuntimeError(f"route {route.method} {route.resource.canonical} has no entry in "
                               f"central/auth/permissions.py (name={name!r}); every route must declare its roles")
