"""The documented Mosquitto ACL (docs/mosquitto/acl) really confines gateways.

A real /usr/sbin/mosquitto is started with the ACL file copied verbatim from
the docs, password auth on and anonymous access off.  The listener is plain
TCP on 127.0.0.1: TLS is not what this test is about.
"""

from __future__ import annotations

import os
import queue
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

REPO = Path(__file__).resolve().parent.parent
DOC_ACL = REPO / "docs" / "mosquitto" / "acl"
MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"

NOT_AUTHORIZED = 0x87
TIMEOUT = 5.0

PASSWORDS = {
    "central": "central-secret",
    "gw-demo-gate-1": "gate-1-secret",
    "gw-demo-gate-2": "gate-2-secret",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Broker:
    port: int
    log: Path


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    # Fail, never skip: the ACL is part of the deployment contract.
    assert os.path.exists(MOSQUITTO), f"{MOSQUITTO} missing: apt-get install mosquitto"
    assert os.path.exists(MOSQUITTO_PASSWD), f"{MOSQUITTO_PASSWD} missing: apt-get install mosquitto"

    d = tmp_path_factory.mktemp("mosquitto")
    acl = d / "acl"
    shutil.copyfile(DOC_ACL, acl)
    pwfile = d / "passwd"
    pwfile.touch()
    for user, password in PASSWORDS.items():
        subprocess.run([MOSQUITTO_PASSWD, "-b", str(pwfile), user, password], check=True)

    port = _free_port()
    log = d / "mosquitto.log"
    lines = [
        f"listener {port} 127.0.0.1",
        "allow_anonymous false",
        f"password_file {pwfile}",
        f"acl_file {acl}",
        "persistence false",
        f"log_dest file {log}",
        "log_type all",
    ]
    if os.geteuid() == 0:
        # Started as root, mosquitto switches to user "mosquitto", which can
        # not read files under pytest's private (0700) tmp dir.  Stay root.
        lines.append("user root")
    conf = d / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n")

    proc = subprocess.Popen(
        [MOSQUITTO, "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                out = proc.stdout.read().decode(errors="replace")
                pytest.fail(f"mosquitto exited with {proc.returncode}:\n{out}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("mosquitto did not accept connections within 10 s")
                time.sleep(0.05)
        yield Broker(port, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


class Client:
    """A paho MQTT v5 client with its callbacks fed into queues."""

    def __init__(self, port: int, username: str, password: str):
        self.connack: queue.Queue = queue.Queue()
        self.subacks: queue.Queue = queue.Queue()
        self.pubacks: queue.Queue = queue.Queue()
        self.messages: queue.Queue = queue.Queue()
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"{username}-{uuid.uuid4().hex[:8]}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        c.username_pw_set(username, password)
        c.on_connect = lambda cl, ud, flags, rc, props: self.connack.put(rc)
        c.on_subscribe = lambda cl, ud, mid, rcs, props: self.subacks.put((mid, rcs))
        c.on_publish = lambda cl, ud, mid, rc, props: self.pubacks.put((mid, rc))
        c.on_message = lambda cl, ud, msg: self.messages.put((msg.topic, msg.payload))
        self.mqtt = c
        c.connect("127.0.0.1", port)
        c.loop_start()

    def wait_connack(self):
        return self.connack.get(timeout=TIMEOUT)

    def subscribe(self, topic: str) -> int:
        """Subscribe at QoS 1; return the SUBACK reason code value."""
        _, mid = self.mqtt.subscribe(topic, qos=1)
        got_mid, rcs = self.subacks.get(timeout=TIMEOUT)
        assert got_mid == mid
        return rcs[0].value

    def publish(self, topic: str, payload: bytes) -> int:
        """Publish at QoS 1; return the PUBACK reason code value."""
        info = self.mqtt.publish(topic, payload, qos=1)
        got_mid, rc = self.pubacks.get(timeout=TIMEOUT)
        assert got_mid == info.mid
        return rc.value

    def received_until(self, sentinel_topic: str) -> list[tuple[str, bytes]]:
        """Messages received up to and including one on sentinel_topic."""
        got = []
        while True:
            topic, payload = self.messages.get(timeout=TIMEOUT)
            got.append((topic, payload))
            if topic == sentinel_topic:
                return got

    def close(self):
        self.mqtt.disconnect()
        self.mqtt.loop_stop()


@pytest.fixture
def connect(broker):
    clients = []

    def _connect(username: str, password: str | None = None) -> Client:
        c = Client(broker.port, username, password or PASSWORDS[username])
        clients.append(c)
        return c

    yield _connect
    for c in clients:
        c.close()


def _connected(client: Client) -> Client:
    rc = client.wait_connack()
    assert not rc.is_failure, rc
    return client


def test_gateway_confined_to_its_own_up_topics(connect):
    central = _connected(connect("central"))
    assert central.subscribe("estate/+/gw/+/up/+") == 1  # granted QoS 1
    gw = _connected(connect("gw-demo-gate-1"))

    # Forged: another gateway's stream, another estate, a command topic.
    for topic in (
        "estate/demo/gw/gate-2/up/access",
        "estate/other/gw/gate-1/up/access",
        "estate/demo/gw/gate-1/down/open",
        "estate/demo/gw/gate-1/ack",
    ):
        assert gw.publish(topic, b"forged") == NOT_AUTHORIZED, topic

    # Its own stream goes through.  Mosquitto keeps one publisher's messages
    # in order, so once this arrives any forged one would have arrived too.
    own = "estate/demo/gw/gate-1/up/access"
    assert gw.publish(own, b"genuine") == 0
    assert central.received_until(own) == [(own, b"genuine")]


def test_gateway_may_publish_state_and_reply(connect):
    central = _connected(connect("central"))
    assert central.subscribe("estate/+/gw/+/state") == 1
    assert central.subscribe("estate/+/gw/+/reply") == 1
    gw = _connected(connect("gw-demo-gate-1"))

    assert gw.publish("estate/demo/gw/gate-2/state", b"forged") == NOT_AUTHORIZED
    assert gw.publish("estate/demo/gw/gate-1/state", b"online") == 0
    assert central.received_until("estate/demo/gw/gate-1/state") == [
        ("estate/demo/gw/gate-1/state", b"online")
    ]
    assert gw.publish("estate/demo/gw/gate-1/reply", b"done") == 0
    assert central.received_until("estate/demo/gw/gate-1/reply") == [
        ("estate/demo/gw/gate-1/reply", b"done")
    ]


def test_gateway_cannot_read_another_gateways_commands(connect):
    central = _connected(connect("central"))
    gw = _connected(connect("gw-demo-gate-1"))

    # Mosquitto 2.0's acl_file grants the SUBACK for a foreign filter and
    # checks read access per message at delivery instead; a broker that
    # refuses the SUBACK is fine too.  Delivery is what must not happen.
    for foreign in ("estate/demo/gw/gate-2/down/#", "estate/demo/gw/gate-2/ack"):
        assert gw.subscribe(foreign) in (1, NOT_AUTHORIZED), foreign
    assert gw.subscribe("estate/demo/gw/gate-1/down/#") == 1
    assert gw.subscribe("estate/demo/gw/gate-1/ack") == 1

    assert central.publish("estate/demo/gw/gate-2/down/open", b"for gate-2") == 0
    assert central.publish("estate/demo/gw/gate-2/ack", b"for gate-2") == 0
    own = "estate/demo/gw/gate-1/down/open"
    assert central.publish(own, b"for gate-1") == 0
    assert gw.received_until(own) == [(own, b"for gate-1")]


def test_central_shared_subscription_is_allowed(connect):
    # central's [broker] shared_group subscribes through $share/{group}/...
    central = _connected(connect("central"))
    assert central.subscribe("$share/central/estate/+/gw/+/up/+") == 1
    gw = _connected(connect("gw-demo-gate-1"))
    own = "estate/demo/gw/gate-1/up/alarm"
    assert gw.publish(own, b"shared") == 0
    assert central.received_until(own) == [(own, b"shared")]


def test_wrong_password_is_refused(connect):
    bad = connect("gw-demo-gate-1", "not-the-password")
    rc = bad.wait_connack()
    assert rc.is_failure
    # Mosquitto 2.0 says 0x87 Not authorized; 0x86 Bad user name or password is fine too.
    assert rc.value in (0x86, NOT_AUTHORIZED)


def test_unknown_user_is_refused(connect):
    rc = connect("gw-demo-gate-9", "whatever").wait_connack()
    assert rc.is_failure


def test_deployment_doc_shows_the_tested_acl():
    doc = (REPO / "docs" / "deployment.md").read_text()
    for line in DOC_ACL.read_text().splitlines():
        if line.startswith(("user ", "topic ")):
            assert line in doc, f"docs/deployment.md lacks ACL line {line!r}"
