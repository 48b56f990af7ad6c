"""Odd input at the boundaries: huge numbers and far-off dates get a precise refusal, never an exception."""
from __future__ import annotations

from central.metering.events import readings_from_event
from central.metering.importer import import_readings
from central.transfer.tables import write_csv
from tests.metering.conftest import OFFICE, fit, local, make_point
from tests.metering.test_events import event, water
from tests.metering.test_routes import _setup, api  # noqa: F401  (the api fixture)


async def test_a_huge_value_in_an_event_is_counted_invalid(engine, demo):
    async with engine.begin() as conn:
        point = await make_point(conn, demo["3-1201"], "3-1201 water")
        await fit(conn, point, "W-001", local(2026, 9, 1), "10", gateway="gw-1", device="wm-3-1201")
        assert await readings_from_event(conn, event(1, local(2026, 9, 2), water("1e30"))) == "invalid"
        assert await readings_from_event(conn, event(2, local(2026, 9, 2), water("1E+40", unit="L"))) == "invalid"


async def test_a_huge_value_in_an_import_is_a_problem_of_its_cell(engine, demo):
    async with engine.begin() as conn:
        point = await make_point(conn, demo["3-1201"], "3-1201 water")
        await fit(conn, point, "W-001", local(2026, 8, 1), "1")
    data = write_csv(["meter_point", "at", "value"], [["3-1201 water", "2026-09-01 08:00", "1e30"]])
    report = await import_readings(engine, OFFICE, "demo", data, filename="round.csv")
    assert [(p.row, p.cell) for p in report.problems] == [(2, "C2")]
    assert "more than 15 digits" in report.problems[0].message


async def test_consumption_at_the_ends_of_the_calendar_is_refused_not_crashed(api, demo):  # noqa: F811
    mine, _ = await _setup(api, demo)
    for query in ("month=9999-12", "since=0001-01-01T00:00:00Z&until=0001-01-03T00:00:00Z",
                  "since=9999-12-29T00:00:00Z&until=9999-12-31T00:00:00Z"):
        status, answer = await api("manager", "GET", f"/meter-points/{mine}/consumption?{query}")
        assert status == 400, (query, answer)


async def test_a_time_at_the_end_of_the_calendar_in_an_import_is_a_problem_of_its_cell(engine, demo):
    async with engine.begin() as conn:
        point = await make_point(conn, demo["3-1201"], "3-1201 water")
        await fit(conn, point, "W-001", local(2026, 8, 1), "1")
    data = write_csv(["meter_point", "at", "value"], [["3-1201 water", "0001-01-01 00:00", "1"],
                                                      ["3-1201 water", "9999-12-31 23:00-05:00", "2"]])
    report = await import_readings(engine, OFFICE, "demo", data, filename="round.csv")
    assert [(p.row, p.cell) for p in report.problems] == [(2, "B2"), (3, "B3")]


async def test_times_at_the_end_of_the_calendar_in_bodies_are_refused_not_crashed(api, demo):  # noqa: F811
    mine, _ = await _setup(api, demo)
    far = "0001-01-01T00:00:00+08:00"
    for path, body in ((f"/meter-points/{mine}/readings", {"at": far, "value": "1"}),
                       (f"/meter-points/{mine}/replacements", {"at": far, "old_final": "1",
                                                               "new": {"serial": "W-9", "first_reading": "0"}}),
                       (f"/meter-points/{mine}/estimates", {"since": far, "until": "0001-01-05T00:00:00Z"}),
                       ("/estates/demo/leak-check", {"until": far})):
        status, answer = await api("manager", "POST", path, body)
        assert status == 400, (path, answer)
