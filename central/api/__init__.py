"""The REST API under /api/v1."""
from aiohttp import web

from central.api import events, gateways, health, openapi

routes: list[web.AbstractRouteDef] = [*health.routes, *events.routes, *gateways.routes, *openapi.routes]
