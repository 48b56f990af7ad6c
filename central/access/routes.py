"""Every access route, to mount on the API sub-app (each name is in ACCESS in central/auth/permissions.py)."""
from __future__ import annotations

from aiohttp import web

from central.access import routes_cards, routes_setup, routes_watch

routes: list[web.AbstractRouteDef] = [*routes_setup.routes, *routes_cards.routes, *routes_watch.routes]


def add_routes(api: web.Application) -> None:
    """Mount the access module on the API sub-app (the one served at /api/v1)."""
    api.add_routes(routes)
