"""Per-gateway delivery bookkeeping: the highest contiguous sequence stored, and the gaps above it."""
from __future__ import annotations

from dataclasses import dataclass, field

MAX_RANGES = 20


@dataclass(slots=True)
class Watermark:
    """`acked` is the highest sequence such that every sequence up to it is settled."""

    acked: int = 0
    above: set[int] = field(default_factory=set)
    gap_since: float | None = None
    last_replay_request: float = 0.0

    def advanced_by(self, seqs: set[int]) -> int:
        """The watermark these newly settled sequences would give (does not change state)."""
        acked, above = self.acked, self.above | {s for s in seqs if s > self.acked}
        while acked + 1 in above:
            acked += 1
        return acked

    def settle(self, seqs: set[int], now: float) -> bool:
        """Record settled sequences; True when the watermark moved."""
        before = self.acked
        self.above.update(s for s in seqs if s > self.acked)
        while self.acked + 1 in self.above:
            self.acked += 1
            self.above.discard(self.acked)
        if not self.above:
            self.gap_since = None
        elif self.gap_since is None or self.acked != before:
            self.gap_since = now
        return self.acked != before

    def missing_ranges(self) -> list[tuple[int, int]]:
        """Gaps between the watermark and the highest settled sequence, lowest first."""
        ranges, expected = [], self.acked + 1
        for seq in sorted(self.above):
            if seq > expected:
                ranges.append((expected, seq - 1))
                if len(ranges) == MAX_RANGES:
                    break
            expected = seq + 1
        return ranges
