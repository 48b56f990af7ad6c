"""Annual tiers at their edges through bill runs: fractional usage just under a boundary (the year's count
summed by the database must stay exact, also on SQLite), and a December bill posted after January's."""
from __future__ import annotations

from tests.billing.conftest import dec, local, post_run
from tests.billing.test_tiers import lines_of, water


async def test_fractional_usage_crossing_a_boundary_keeps_the_count_exact(engine, demo):
    await water(engine, demo, {"3-1201": [(local(2025, 1, 1), "0"), (local(2025, 2, 1), "179.9"),
                                          (local(2025, 3, 1), "180.1")]}, {"3-1201": 4})
    await post_run(engine, "2025-01")
    await post_run(engine, "2025-02")
    # 179.9 billed in January; February's 0.2: 0.1 at 3.45 = 0.345 -> 0.35 and 0.1 at 4.83 = 0.483 -> 0.48
    assert [(q, a) for _, _, q, _, a, _, _ in await lines_of(engine, demo["3-1201"], "2025-02")] == [
        (dec("0.1"), dec("0.35")), (dec("0.1"), dec("0.48"))]
