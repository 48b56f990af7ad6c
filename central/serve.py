"""Run central as a process: the app on its HTTP port until SIGINT/SIGTERM, with systemd notification."""
from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from central.app import create_app
from central.config import CentralConfig
from central.keys import INGEST
from estatelink import sdnotify

log = logging.getLogger("central")


async def serve(config: CentralConfig, *, announce: bool = True) -> None:
    """Serve until a stop signal; READY=1 once listening, watchdog pings while the loop runs."""
    app = create_app(config)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.http.host, config.http.port)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if announce:
        print(f"central listening on http://{config.http.host}:{config.http.port}/api/v1/health", flush=True)
    sdnotify.ready()
    watchdog = asyncio.create_task(sdnotify.run_watchdog(lambda: True))
    try:
        await stop.wait()
    finally:
        sdnotify.stopping()
        watchdog.cancel()
        await runner.cleanup()
        log.info("central stopped; ingest counters: %s", dict(app[INGEST].counters) if INGEST in app else {})
