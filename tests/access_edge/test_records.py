"""Wire records: golden canonical forms and checksum (central must produce the same), and precise refusals."""
from __future__ import annotations

import pytest

from gateway.access import RecordError
from estatelink.access_records import canonical_json, checksum_of, parse, to_wire
from tests.access_edge.helpers import reference_checksum, wire_credential

CREDENTIAL = {"card": "62E3086CED", "holder_id": "r-1", "holder_name": '王芳 "Fang" \\ 😀',
              "holder_kind": "resident", "state": "active", "door_groups": ["gates", "block-3"],
              "valid_from": "2025-06-01T08:00:00+08:00", "valid_until": "2026-01-01T00:00:00.5Z"}
DOOR = {"id": "gate-in", "name": "Gate (in)", "groups": {"staff": "night", "gates": None},
        "anti_passback": {"zone": "estate", "direction": "in", "reset_after_s": 43200}}
SCHEDULE = {"id": "office", "timezone": "Asia/Shanghai", "holidays": ["2025-10-01"], "holiday_intervals": [],
            "weekly": {"mon": [["13:00", "18:00"], ["08:00", "12:00"]], "fri": [["22:00", "06:00"]]}}

# Golden vectors: the checksum was also computed outside Python, with printf '%s\t%s\n' ... | sha256sum.
GOLDEN = [
    ("credentials", CREDENTIAL,
     '{"card":"62E3086CED","door_groups":["block-3","gates"],"holder_id":"r-1","holder_kind":"resident",'
     '"holder_name":"王芳 \\"Fang\\" \\\\ 😀","state":"active","valid_from":"2025-06-01T00:00:00Z",'
     '"valid_until":"2026-01-01T00:00:00.500000Z"}'),
    ("doors", DOOR,
     '{"anti_passback":{"direction":"in","reset_after_s":43200,"zone":"estate"},'
     '"groups":{"gates":null,"staff":"night"},"id":"gate-in","name":"Gate (in)"}'),
    ("schedules", SCHEDULE,
     '{"holiday_intervals":[],"holidays":["2025-10-01"],"id":"office","timezone":"Asia/Shanghai",'
     '"weekly":{"fri":[["22:00:00","06:00:00"]],"mon":[["08:00:00","12:00:00"],["13:00:00","18:00:00"]],'
     '"sat":[],"sun":[],"thu":[],"tue":[],"wed":[]}}'),
    ("door_groups", {"id": "block-3", "name": "3号楼"}, '{"id":"block-3","name":"3号楼"}'),
]
GOLDEN_CHECKSUM = "d6a9ead1bfc8db1b64895d01b4576b65fdfb6baddb8d49dbe5e76904c85d3772"


@pytest.mark.parametrize(("kind", "raw", "expected"), GOLDEN, ids=[row[0] for row in GOLDEN])
def test_canonical_json(kind, raw, expected):
    assert canonical_json(parse(kind, raw)) == expected
    assert canonical_json(parse(kind, to_wire(parse(kind, raw)))) == expected  # canonical is a fixed point


def test_golden_checksum():
    records = {kind: {"k": parse(kind, raw)} for kind, raw, _ in GOLDEN[:3]}
    assert checksum_of(records) == GOLDEN_CHECKSUM
    assert reference_checksum({"credentials": [to_wire(records["credentials"]["k"])],
                               "doors": [to_wire(records["doors"]["k"])],
                               "schedules": [to_wire(records["schedules"]["k"])]}) == GOLDEN_CHECKSUM


def test_optional_fields_may_be_omitted():
    raw = {key: value for key, value in wire_credential("62E3086CED").items() if not key.startswith("valid")}
    assert to_wire(parse("credentials", raw)) == wire_credential("62E3086CED")


@pytest.mark.parametrize(("kind", "raw", "message"), [
    ("credentials", [], r"credentials: a record is an object"),
    ("credentials", {**CREDENTIAL, "pin": "1234"}, r"credentials\['62E3086CED'\]\.pin: is not a field"),
    ("credentials", {k: v for k, v in CREDENTIAL.items() if k != "state"}, r"\.state: is required"),
    ("credentials", {**CREDENTIAL, "card": "62 E3"}, r"\.card: must be ASCII without spaces"),
    ("credentials", {**CREDENTIAL, "card": ""}, r"\.card: must be a printable string"),
    ("credentials", {**CREDENTIAL, "state": "stolen"}, r"\.state: must be one of active, suspended"),
    ("credentials", {**CREDENTIAL, "holder_kind": "visitor"}, r"\.holder_kind: must be one of resident, staff"),
    ("credentials", {**CREDENTIAL, "valid_from": "2025-06-01T00:00:00"}, r"\.valid_from: .*UTC offset"),
    ("credentials", {**CREDENTIAL, "valid_from": "yesterday"}, r"\.valid_from: .*ISO 8601"),
    ("credentials", {**CREDENTIAL, "valid_until": "2025-01-01T00:00:00Z"}, r"\.valid_until: .*is not before"),
    ("credentials", {**CREDENTIAL, "door_groups": "gates"}, r"\.door_groups: must be a list"),
    ("credentials", {**CREDENTIAL, "holder_name": "a\nb"}, r"\.holder_name: must be a printable string"),
    ("doors", {**DOOR, "groups": ["gates"]}, r"doors\['gate-in'\]\.groups: must be an object"),
    ("doors", {**DOOR, "anti_passback": {"zone": "estate"}}, r"\.anti_passback: must be"),
    ("doors", {**DOOR, "anti_passback": "estate"}, r"\.anti_passback: must be"),
    ("doors", {**DOOR, "anti_passback": {"zone": "e", "direction": "in", "reset_after_s": 0}}, r"\.anti_passback"),
    ("doors", {**DOOR, "anti_passback": {"zone": "e", "direction": "in", "reset_after_s": 10**30}},
     r"\.anti_passback: must be"),
    ("schedules", {**SCHEDULE, "timezone": "Mars/Olympus"}, r"\.timezone: unknown time zone"),
    ("schedules", {**SCHEDULE, "weekly": {"monday": []}}, r"\.weekly: must be an object with keys among mon"),
    ("schedules", {**SCHEDULE, "weekly": {"mon": [["8:00", "12:00"]]}}, r"\.weekly\.mon: times of day"),
    ("schedules", {**SCHEDULE, "weekly": {"mon": [["24:00", "12:00"]]}}, r"\.weekly\.mon: '24:00' is not"),
    ("schedules", {**SCHEDULE, "weekly": {"mon": [["08:00"]]}}, r"\.weekly\.mon: must be a list of \[start"),
    ("schedules", {**SCHEDULE, "holidays": ["1 Oct"]}, r"\.holidays: dates are 'YYYY-MM-DD'"),
    ("visitors", {}, r"visitors: unknown record kind"),
])
def test_bad_records_are_refused_precisely(kind, raw, message):
    with pytest.raises(RecordError, match=message):
        parse(kind, raw)
