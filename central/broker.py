"""The embedded MQTT broker (amqtt, MQTT 3.1.1, loopback only) used when no broker URL is configured."""
from __future__ import annotations

import logging

from amqtt.broker import Broker

log = logging.getLogger("central.broker")


class EmbeddedBroker:
    """An amqtt broker bound to 127.0.0.1 for a single-machine estate; production uses Mosquitto."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._broker: Broker | None = None

    async def start(self) -> None:
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        self._broker = Broker(config)
        await self._broker.start()
        log.info("embedded MQTT broker listening on 127.0.0.1:%d (MQTT 3.1.1)", self.port)

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None
