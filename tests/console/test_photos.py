"""The holder's photo beside each tap: a real gateway decides on the simulated reader's card, and the guard's page
shows the photo the office uploaded (fetched with the guard's session), or nothing for a holder without one."""
from __future__ import annotations

import urllib.request

import pytest
from playwright.sync_api import expect

from tests.access_gateway.support import DOOR, DoorRig
from tests.console.test_console import PASSWORD, log_in
from tests.support.images import png
from tests.support.services import wait_until

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
RESIDENT_CARD, STAFF_CARD = "1A00C3D5E7", "2B00C3D5E8"
WIDTH, HEIGHT = 37, 23


def ok(central, path: str, body: dict) -> dict:
    status, answer = central.api(path, method="POST", body=body)
    assert status in (200, 201), (path, answer)
    return answer


def put_photo(central, path: str, image: bytes) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{central.port}/api/v1{path}", data=image, method="PUT",
                                     headers={"Authorization": f"Bearer {central.token}", "Content-Type": "image/png"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return resp.status


def decisions(central) -> list[dict]:
    return central.all_events(estate="demo", kind="access.decision")


def natural_width(row) -> int:
    image = row.locator("td.holder img")
    expect(image).to_have_count(1)
    return image.evaluate("img => img.decode().then(() => img.naturalWidth)")


def test_a_tap_shows_the_holders_photo_and_a_holder_without_one_shows_none(tmp_path, mosquitto, central, page):
    ok(central, "/estates", {"code": "demo", "name": "演示花园"})
    central.create_user("guard-li", "guard", "demo", password=PASSWORD)
    resident = ok(central, "/estates/demo/residents", {"name": "王芳"})
    worker = ok(central, "/estates/demo/staff", {"name": "孙强"})
    ok(central, "/estates/demo/access/door-groups", {"code": "lobby", "name": "Lobby"})
    ok(central, "/estates/demo/access/doors", {"code": DOOR, "gateway": "gate-1", "name": "3号楼大堂",
                                                "readers": ["lobby-reader"], "groups": {"lobby": None}})
    cards = [ok(central, "/estates/demo/access/cards", {"card": RESIDENT_CARD, "resident_id": resident["id"],
                                                         "door_groups": ["lobby"]}),
             ok(central, "/estates/demo/access/cards", {"card": STAFF_CARD, "staff_id": worker["id"],
                                                         "door_groups": ["lobby"]})]
    assert [c["holder_id"] for c in cards] == [f"r-{resident['id']}", f"s-{worker['id']}"]
    assert put_photo(central, f"/residents/{resident['id']}/photo", png(WIDTH, HEIGHT)) == 200

    rig = DoorRig(tmp_path, mosquitto.url)
    try:
        rig.start()
        wait_until(lambda: all(g["in_sync"] for g in central.api("/estates/demo/access/sync")[1]["gateways"]), 40,
                   message="the gateway to hold the cards")
        rig.tap(RESIDENT_CARD)  # before the page opens: it comes with the last 100
        wait_until(lambda: decisions(central), 10, message="the first decision stored")
        [first] = decisions(central)
        assert (first["data"]["granted"], first["data"]["holder_id"]) == (True, f"r-{resident['id']}")

        log_in(page, central)
        row = page.locator(f"#feed tbody tr[data-id='{first['id']}']")
        expect(row).to_contain_text("王芳")
        assert natural_width(row) == WIDTH

        expect(page.locator("#link")).to_have_attribute("data-state", "up")
        with page.expect_response(lambda r: r.url.endswith(f"/api/v1/staff/{worker['id']}/photo")) as answer:
            rig.tap(STAFF_CARD)
        assert answer.value.status == 404
        row = page.locator("#feed tbody tr[data-kind='access.decision']").first
        expect(row).to_contain_text("孙强", timeout=10_000)
        expect(row.locator("img")).to_have_count(0)

        rig.tap(RESIDENT_CARD)  # live, and the photo from the page's cache
        wait_until(lambda: len(decisions(central)) == 3, 10, message="the third decision stored")
        row = page.locator(f"#feed tbody tr[data-id='{decisions(central)[-1]['id']}']")
        expect(row).to_contain_text("王芳", timeout=10_000)
        assert natural_width(row) == WIDTH
    finally:
        rig.close()
    assert page.locator("#feed tbody tr[data-kind='access.decision'] img").count() == 2
