"""A plain MQTT subscriber in its own process (so the benchmark's threads cannot delay it): writes one line
`card wall_time` for each event of `device` it sees on the uplink topics.

Its own socket must not add delay: it subscribes with QoS 1 and sets TCP_NODELAY, so its PUBACKs carry the TCP
acknowledgements back at once, and TCP_QUICKACK after every message. (A receive-only QoS 0 subscriber gets its
messages up to ~40 ms late from a broker without set_tcp_nodelay: Nagle waits for the subscriber's delayed ACK.)

    python -m bench._tap PORT DEVICE OUTFILE      (prints "ready" once subscribed; stop it with SIGTERM)
"""
from __future__ import annotations

import signal
import socket
import sys
import threading
import time

import orjson
import paho.mqtt.client as mqtt


def main() -> int:
    port, device, out_path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    out = open(out_path, "w", buffering=1)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def quickack(client) -> None:  # noqa: ANN001
        sock = client.socket()
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)

    def on_message(client, userdata, message):  # noqa: ANN001
        wall = time.time()
        quickack(client)
        for event in orjson.loads(message.payload).get("events", []):
            if event.get("device") == device:
                out.write(f"{event['data']['card']} {wall:.6f}\n")

    def on_subscribe(client, userdata, mid, reasons, properties):  # noqa: ANN001
        print("ready", flush=True)

    def on_connect(client, userdata, flags, reason, properties):  # noqa: ANN001
        client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        quickack(client)
        client.subscribe("estate/+/gw/+/up/+", qos=1)

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-tap-{port}", protocol=mqtt.MQTTv5)
    client.on_message, client.on_subscribe, client.on_connect = on_message, on_subscribe, on_connect
    client.connect("127.0.0.1", port)
    client.loop_start()
    stop.wait()
    client.disconnect()
    client.loop_stop()
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
