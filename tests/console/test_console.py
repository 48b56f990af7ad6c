"""The gatehouse console in a real browser: a guard logs in and sees a tap on the reader appear live."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from playwright.sync_api import expect

from estatelink import wire
from simulators.card_reader import PtyCardReader
from tests.access_gateway.support import DOOR, LOCK_COIL, DoorRig
from tests.central.test_api import batch, publish
from tests.support.gateway_config import write_gateway_config
from tests.support.services import Process, wait_until

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
PASSWORD = "gatehouse-night-7"


def log_in(page, central, username: str = "guard-li") -> None:
    page.goto(f"http://127.0.0.1:{central.port}/console/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login button[type=submit]")
    expect(page.locator("#console")).to_be_visible()


def test_a_tap_on_the_reader_appears_on_the_guards_page(tmp_path, mosquitto, central, page):
    assert central.api("/estates", method="POST", body={"code": "demo", "name": "演示花园"})[0] == 201
    central.create_user("guard-li", "guard", "demo", password=PASSWORD)
    log_in(page, central)
    expect(page.locator("h1")).to_have_text("门岗控制台")
    expect(page.locator("#link")).to_have_attribute("data-state", "up")

    with PtyCardReader(fmt="em4100") as reader:
        config = write_gateway_config(tmp_path / "gw.toml", broker_url=mosquitto.url,
                                      outbox=tmp_path / "outbox.sqlite", reader_port=reader.port)
        gateway = Process(["gateway", "--config", str(config)], tmp_path / "gateway.log")
        gateway.start()
        try:
            wait_until(lambda: central.api("/gateways")[1]["items"], 20, message="the gateway to come online")
            reader.write_frame("1A00C3D5E7")
            row = page.locator("#feed tbody tr[data-kind='card.read']").first
            expect(row).to_contain_text("1A00C3D5E7", timeout=10_000)
            expect(row).to_contain_text("刷卡")
        finally:
            gateway.stop()

    page.click("#lang")
    expect(page.locator("h1")).to_have_text("Gatehouse console")
    expect(page.locator("#feed tbody tr").first).to_contain_text("1A00C3D5E7")


def test_wrong_password_is_refused_in_chinese(mosquitto, central, page):
    assert central.api("/estates", method="POST", body={"code": "demo", "name": "演示花园"})[0] == 201
    central.create_user("guard-li", "guard", "demo", password=PASSWORD)
    page.goto(f"http://127.0.0.1:{central.port}/console/")
    page.fill("input[name=username]", "guard-li")
    page.fill("input[name=password]", "not-the-password")
    page.click("#login button[type=submit]")
    expect(page.locator("#login-error")).to_have_text("用户名或密码错误")
    expect(page.locator("#console")).to_be_hidden()


def test_an_alarm_is_shown_live_and_acknowledged_with_a_comment(mosquitto, central, page):
    assert central.api("/estates", method="POST", body={"code": "demo", "name": "演示花园"})[0] == 201
    central.create_user("guard-li", "guard", "demo", password=PASSWORD)
    log_in(page, central)
    expect(page.locator("#no-alarms")).to_be_visible()
    expect(page.locator("#link")).to_have_attribute("data-state", "up")

    forced = wire.envelope_dict(estate="demo", gateway="gate-1", seq=1, device="main-gate-io", kind="door.forced",
                                data={"door": "main-gate"}, received_at=datetime.now(timezone.utc))
    publish(mosquitto.port, [batch(wire.uplink_topic("demo", "gate-1", "alarm"), [forced])])

    expect(page.locator("#feed tbody tr.alarm").first).to_contain_text("强行开门", timeout=10_000)
    alarm = page.locator("#alarms li").first
    expect(alarm).to_contain_text("main-gate")
    alarm.locator("input[name=comment]").fill("巡查确认：住户忘带卡，已关门")
    alarm.locator("button").click()
    expect(page.locator("#no-alarms")).to_be_visible()

    status, found = central.api("/estates/demo/access/alarms")
    assert status == 200, found
    [stored] = found["items"]
    assert (stored["state"], stored["acknowledged_by"], stored["comment"]) == (
        "acknowledged", "guard-li", "巡查确认：住户忘带卡，已关门")


def test_remote_open_from_the_page_pulses_the_simulated_lock(tmp_path, mosquitto, central, page):
    assert central.api("/estates", method="POST", body={"code": "demo", "name": "演示花园"})[0] == 201
    central.create_user("guard-li", "guard", "demo", password=PASSWORD)
    status, door = central.api("/estates/demo/access/doors", method="POST", body={
        "code": DOOR, "gateway": "gate-1", "name": "3号楼大堂", "readers": ["lobby-reader"]})
    assert status == 201, door
    rig = DoorRig(tmp_path, mosquitto.url)
    try:
        rig.start()
        wait_until(lambda: door_io_online(central), 40, message="the gateway online with its door module")
        log_in(page, central)
        entry = page.locator(f"#doors li[data-id='{door['id']}']")
        expect(entry).to_contain_text("3号楼大堂")
        entry.locator("button").click()
        expect(page.locator("#open-result")).to_have_text("3号楼大堂: 已开门", timeout=20_000)
        wait_until(lambda: rig.sim.pulses(LOCK_COIL), 10, message="the lock pulsed")
        assert len(rig.sim.pulses(LOCK_COIL)) == 1
    finally:
        rig.close()
    status, opens = central.api("/estates/demo/access/remote-opens")
    assert status == 200, opens
    assert [(o["issuer"], o["status"], o["door"]) for o in opens["items"]] == [("guard-li", "ok", DOOR)]


def door_io_online(central) -> bool:  # noqa: ANN001
    _, body = central.api("/gateways")
    states = [g.get("state") or {} for g in body.get("items", []) if g["gateway"] == "gate-1"]
    return any(s.get("status") == "online" and (s.get("devices") or {}).get("door-io", {}).get("state") == "online"
               for s in states)
