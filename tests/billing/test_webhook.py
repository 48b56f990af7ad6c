"""The payment provider's webhook, fed by the simulated provider: a good notification is posted, the same payment
notified again is posted once, a replayed request, a bad signature and a stale timestamp post nothing. Malformed
headers and signed values central cannot keep are refused (401, 422), never a 500; a payment is posted when
central receives it, whatever paid_at says."""
from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from central.billing.models import Payment
from central.billing.providers import sign
from simulators.payment_provider import PaymentProviderSim
from tests.billing.conftest import PLUS8, dec, postings_of

SECRET = "sim-shared-secret-for-tests-0123456789"
URL = "/payments/webhook/sim"


@pytest.fixture(autouse=True)
def provider_secret(monkeypatch) -> None:
    monkeypatch.setenv("ESTATELINK_PAYMENT_SIM_SECRET", SECRET)


async def _post(api, signed, **headers: str) -> tuple[int, dict]:
    resp = await api.client.post("/api/v1" + URL, data=signed.body, headers={**signed.headers, **headers})
    return resp.status, await resp.json()


async def test_a_payment_notified_twice_is_posted_once(public_api, engine, demo):
    api, sim = public_api, PaymentProviderSim(SECRET)
    unit = demo["3-1201"]
    payment = sim.payment("demo", unit, "120.00", payment_id="sim_pay_0001")
    status, answer = await _post(api, sim.sign(payment))
    assert status == 200 and answer["status"] == "posted", answer
    receipt = answer["receipt"]
    assert (receipt["method"], receipt["provider"], receipt["provider_payment_id"], receipt["amount"]) == (
        "online", "sim", "sim_pay_0001", "120.00")
    assert receipt["receipt_no"].startswith("demo-") and receipt["balance_after"] == "-120.00"

    status, again = await _post(api, sim.sign(payment))  # the provider's retry: a fresh nonce and timestamp
    assert status == 200 and again["status"] == "duplicate" and again["receipt"]["id"] == receipt["id"]
    rows = await postings_of(engine, unit)
    assert [(r.kind, r.amount) for r in rows] == [("payment", dec("-120.00"))]

    status, _ = await _post(api, sim.sign({**payment, "amount": "99.00"}))
    assert status == 409  # the same payment id with another amount is refused, not posted


async def test_a_payment_notified_twice_at_once_is_posted_once(public_api, engine, demo):
    sim = PaymentProviderSim(SECRET)
    payment = sim.payment("demo", demo["3-1201"], "120.00", payment_id="sim_pay_race")
    results = await asyncio.gather(*(_post(public_api, sim.sign(payment)) for _ in range(2)))
    assert sorted((status, answer["status"]) for status, answer in results) == [(200, "duplicate"), (200, "posted")]
    assert len(await postings_of(engine, demo["3-1201"])) == 1


async def test_a_replayed_request_is_refused(public_api, engine, demo):
    api, sim = public_api, PaymentProviderSim(SECRET)
    signed = sim.sign(sim.payment("demo", demo["3-1202"], "50.00"))
    assert (await _post(api, signed))[0] == 200
    status, answer = await _post(api, signed)
    assert (status, answer["error"]) == (409, "replayed")
    assert len(await postings_of(engine, demo["3-1202"])) == 1


async def test_bad_signatures_and_stale_timestamps_post_nothing(public_api, engine, demo):
    api, sim = public_api, PaymentProviderSim(SECRET)
    unit = demo["3-1201"]
    payment = sim.payment("demo", unit, "80.00")
    forged = sim.sign(payment, secret=b"not-the-shared-secret-at-all")
    tampered = sim.sign(payment)
    tampered = type(tampered)(tampered.headers, tampered.body.replace(b'"80.00"', b'"0.01"'))
    stale = sim.sign(payment, timestamp=int(time.time()) - 600)
    unsigned = type(forged)({"Content-Type": "application/json"}, forged.body)
    for signed in (forged, tampered, stale, unsigned):
        status, answer = await _post(api, signed)
        assert (status, answer["error"]) == (401, "bad_signature"), answer
    assert await postings_of(engine, unit) == []
    assert (await _post(api, sim.sign(payment)))[0] == 200  # the genuine one still goes through


async def test_notifications_for_units_that_do_not_exist_or_belong_elsewhere(public_api, engine, demo):
    api, sim = public_api, PaymentProviderSim(SECRET)
    for unit in (demo["1-101"], 999_999):  # 1-101 is a unit of estate other
        status, answer = await _post(api, sim.sign(sim.payment("demo", unit, "10.00")))
        assert (status, answer["error"]) == (422, "bad_notification")
    resp = await api.client.post("/api/v1/payments/webhook/paypal", data=b"{}")
    assert resp.status == 404


async def test_the_simulator_delivers_over_http(public_api, engine, demo):
    api = public_api
    sim = PaymentProviderSim(SECRET, str(api.client.make_url("/api/v1" + URL)))
    payment = sim.payment("demo", demo["3-1203"], "66.60", purpose="prepayment")
    for _ in range(3):
        status, answer = await sim.notify(api.client.session, payment)
        assert status == 200
    rows = await postings_of(engine, demo["3-1203"])
    assert [(r.kind, r.amount) for r in rows] == [("prepayment", dec("-66.60"))]


async def test_a_malformed_signature_header_is_a_bad_signature(public_api, engine, demo):
    sim = PaymentProviderSim(SECRET)
    signed = sim.sign(sim.payment("demo", demo["3-1201"], "10.00"))
    digest = signed.headers["X-Sim-Signature"].removeprefix("v1=")
    for signature in ("v1=\u00e9" + "0" * 63, "v1=" + digest.upper(), digest, "v1=" + digest[:-1]):
        status, answer = await _post(public_api, signed, **{"X-Sim-Signature": signature})
        assert (status, answer["error"]) == (401, "bad_signature"), (signature, answer)
    assert await postings_of(engine, demo["3-1201"]) == []


async def test_a_signed_timestamp_that_is_not_unix_seconds_is_a_bad_signature(public_api, engine, demo):
    sim = PaymentProviderSim(SECRET)
    signed = sim.sign(sim.payment("demo", demo["3-1201"], "10.00"))
    for stamp in ("999999999999", "\u00b2" * 10, "\u0661" * 10):  # year 33658; superscript and Arabic-Indic digits
        signature = sign(SECRET.encode(), stamp, signed.headers["X-Sim-Nonce"], signed.body)
        status, answer = await _post(public_api, signed, **{"X-Sim-Timestamp": stamp, "X-Sim-Signature": signature})
        assert (status, answer["error"]) == (401, "bad_signature"), (stamp, answer)


@pytest.mark.parametrize("field, value, says", [
    ("id", "sim_pay_\u0000_1", "id: Value error, contains a NUL character"),
    ("paid_at", "9999-12-31T23:59:59-23:59", "paid_at: Value error, is outside the years 1 to 9999 in UTC"),
    ("paid_at", "0001-01-01T00:00:00+14:00", "paid_at: Value error, is outside the years 1 to 9999 in UTC"),
])
async def test_a_signed_value_central_cannot_keep_is_a_bad_notification(public_api, engine, demo, field, value,
                                                                         says):
    sim = PaymentProviderSim(SECRET)
    signed = sim.sign({**sim.payment("demo", demo["3-1201"], "10.00"), field: value})
    status, answer = await _post(public_api, signed)
    assert (status, answer["error"]) == (422, "bad_notification"), answer
    assert answer["message"] == f"not a payment notification: {says}"
    assert await postings_of(engine, demo["3-1201"]) == []


@pytest.mark.parametrize("paid_at", [datetime(2099, 6, 1, tzinfo=timezone.utc),
                                     datetime(2020, 1, 15, tzinfo=timezone.utc)])
async def test_a_payment_is_posted_when_central_receives_it_whatever_paid_at_says(public_api, engine, demo,
                                                                                    paid_at):
    sim = PaymentProviderSim(SECRET)
    unit = demo["3-1201"]
    status, answer = await _post(public_api, sim.sign(sim.payment("demo", unit, "50.00", paid_at=paid_at)))
    now = datetime.now(PLUS8)
    assert (status, answer["status"]) == (200, "posted"), answer
    assert answer["receipt"]["receipt_no"].startswith(f"demo-{now.year}-")
    [posting] = await postings_of(engine, unit)
    assert (posting.kind, posting.period) == ("payment", now.strftime("%Y-%m"))
    async with engine.connect() as conn:
        kept = await conn.scalar(select(Payment.raw).where(Payment.id == answer["receipt"]["id"]))
    assert kept["paid_at"] == paid_at.isoformat()  # the provider's word, kept with its notification
