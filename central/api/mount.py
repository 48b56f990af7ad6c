"""Every route of the REST API, mounted under /api/v1 by central/app.py. Kept out of the package's __init__:
the modules whose routes these are import central.api's helpers, so gathering them there would be circular."""
from aiohttp import web

from central.access import routes as access_routes
from central.api import events, gateways, health, live, openapi
from central.auth import routes as auth_routes
from central.billing import routes as billing_routes
from central.metering import routes as metering_routes
from central.notify import routes as notify_routes
from central.registry import routes as registry_routes
from central.transfer import routes as transfer_routes

routes: list[web.AbstractRouteDef] = [*health.routes, *events.routes, *live.routes, *gateways.routes, *openapi.routes,
                                      *auth_routes.routes, *registry_routes.routes,
                                      *transfer_routes.routes, *metering_routes.routes,
                                      *access_routes.routes, *billing_routes.routes,
                                      *notify_routes.routes]
