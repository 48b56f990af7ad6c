"""A time that parses but falls outside datetime's range once converted to UTC is a RecordError naming the
field, like any other bad value, never an OverflowError that escapes validation."""
from __future__ import annotations

import pytest

from estatelink.access_records import RecordError, parse
from gateway.access.sync import parse_delta
from tests.access_edge.helpers import wire_credential

OUT_OF_RANGE = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]


@pytest.mark.parametrize("when", OUT_OF_RANGE)
@pytest.mark.parametrize("field", ["valid_from", "valid_until"])
def test_a_credential_time_out_of_range_in_utc_is_a_record_error(field, when):
    with pytest.raises(RecordError, match=field):
        parse("credentials", wire_credential("62E3086CED", **{field: when}))


@pytest.mark.parametrize("when", OUT_OF_RANGE)
def test_a_used_pass_time_out_of_range_in_utc_is_a_record_error(when):
    with pytest.raises(RecordError, match=r"delta\.used_passes"):
        parse_delta({"from_version": 0, "to_version": 1, "used_passes": [{"id": 1, "valid_until": when}]})
