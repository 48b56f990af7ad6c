"""A single-use visitor pass is single use across the estate: used at one gateway, it is refused at another once
central has relayed it (real central, Mosquitto and two gateway processes, each with its QR reader on a pty)."""
from __future__ import annotations

from tests.access_gateway.support import DoorRig, decisions
from tests.support.services import wait_until


def ok(central, path: str, body: dict | None = None, method: str = "POST") -> dict:
    status, answer = central.api(path, method=method, body=body)
    assert status in (200, 201), (path, answer)
    return answer


def sync_of(central) -> dict:
    return ok(central, "/estates/demo/access/sync", method="GET")


def in_sync(central, gateway: str, version: int) -> bool:
    shown = sync_of(central)
    return shown["version"] == version and any(g["gateway"] == gateway and g["in_sync"] for g in shown["gateways"])


def test_a_single_use_pass_used_at_one_gateway_is_refused_at_the_others(tmp_path, mosquitto, central):
    ok(central, "/estates", {"code": "demo", "name": "Demo"})
    ok(central, "/estates/demo/access/door-groups", {"code": "lobbies", "name": "Lobbies"})
    for gateway, door in (("gate-1", "b3-lobby"), ("gate-2", "b4-lobby")):
        ok(central, "/estates/demo/access/doors", {"code": door, "gateway": gateway, "name": door,
                                                    "readers": ["lobby-reader"], "groups": {"lobbies": None}})
    key = ok(central, "/access/pass-key", method="GET")["public_key"]
    courier = ok(central, "/estates/demo/access/visitor-passes", {"visitor_name": "Courier",
                                                                  "door_groups": ["lobbies"]})
    nurse = ok(central, "/estates/demo/access/visitor-passes", {"visitor_name": "Nurse", "door_groups": ["lobbies"],
                                                                "single_use": False})
    rigs = {}
    try:
        for gateway, door in (("gate-1", "b3-lobby"), ("gate-2", "b4-lobby")):
            (tmp_path / gateway).mkdir()
            rigs[gateway] = DoorRig(tmp_path / gateway, mosquitto.url, gateway_id=gateway, door=door, pass_key=key)
            rigs[gateway].start()
        version = sync_of(central)["version"]
        for gateway in rigs:
            wait_until(lambda g=gateway: in_sync(central, g, version), 60, message=f"{gateway} in sync")

        rigs["gate-1"].qr.write_frame(courier["text"])
        rigs["gate-1"].qr.write_frame(nurse["text"])
        wait_until(lambda: len(central.all_events(kind="access.decision")) == 2, 30, message="both passes at central")
        relayed = version + 1
        wait_until(lambda: in_sync(central, "gate-2", relayed), 30,
                   message="gate-2 has the used pass (one new version: only the single-use pass counts)")

        rigs["gate-2"].qr.write_frame(courier["text"])
        rigs["gate-2"].qr.write_frame(nurse["text"])
        rigs["gate-1"].qr.write_frame(courier["text"])
        stored = wait_until(lambda: (found := central.all_events(kind="access.decision")) and len(found) == 5 and found,
                            30, message="five decisions at central")
        by_gateway = {g: decisions([e for e in stored if e["gateway"] == g]) for g in rigs}
        courier_card, nurse_card = f"pass:{courier['id']}", f"pass:{nurse['id']}"
        assert by_gateway["gate-1"] == [(courier_card, True, "granted"), (nurse_card, True, "granted"),
                                        (courier_card, False, "pass_used")]
        assert by_gateway["gate-2"] == [(courier_card, False, "pass_used"), (nurse_card, True, "granted")]
    finally:
        for rig in rigs.values():
            rig.close()
