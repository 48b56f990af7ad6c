"""The estate's records: estates, buildings, units, parking, common areas, residents, staff, attendance.

Service functions (no HTTP) live in one module per record type and take an `AsyncConnection` inside the
caller's transaction; `routes.py` gathers the aiohttp routes, `permissions.py` the roles of each route.
"""
