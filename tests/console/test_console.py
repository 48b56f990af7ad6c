"""The gatehouse console in a real browser: a guard logs in and sees a tap on the reader appear live."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from simulators.card_reader import PtyCardReader
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
