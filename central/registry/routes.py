"""Every registry route, to mount on the API sub-app (each name is in permissions.REGISTRY_PERMISSIONS)."""
from __future__ import annotations

from aiohttp import web

from central.registry import routes_people, routes_photos, routes_property, routes_staff

routes: list[web.AbstractRouteDef] = [*routes_property.routes, *routes_people.routes, *routes_staff.routes,
                                      *routes_photos.routes]


def add_routes(api: web.Application) -> None:
    """Mount the registry on the API sub-app (the one served at /api/v1)."""
    api.add_routes(routes)
