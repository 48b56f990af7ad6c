"""The REST API under /api/v1: shared request and answer helpers; `mount.routes` gathers every module's routes."""
