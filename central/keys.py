"""Typed keys for what the central application shares with its handlers."""
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from central.config import CentralConfig
from central.ingest.service import Ingest
from central.live import LiveFeed

CONFIG = web.AppKey("config", CentralConfig)
ENGINE = web.AppKey("engine", AsyncEngine)
INGEST = web.AppKey("ingest", Ingest)
LIVE = web.AppKey("live", LiveFeed)
