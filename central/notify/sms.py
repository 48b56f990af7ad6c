"""SMS through a provider interface; the one provider here is simulated (it records; it can be told to fail).

A real provider (Aliyun, Tencent Cloud, ...) implements SmsProvider: send one text, return the provider's
message id, and raise TransientSendError (throttled, provider down) or PermanentSendError (bad number, template
refused) so the sender knows whether to retry.
"""
from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from central.notify.errors import PermanentSendError, SendError, TransientSendError


@dataclass(frozen=True, slots=True)
class OutgoingSms:
    notification_id: int
    estate: str
    recipient: str
    text: str


class SmsProvider(Protocol):
    name: str

    async def send(self, sms: OutgoingSms) -> str:
        """Send one text; returns the provider's message id, raises a SendError on failure."""
        ...


def segments(text: str) -> int:
    """How many SMS parts the text takes: 70 UCS-2 characters (160 GSM ones) in one, 67 (153) each when split."""
    single, part = (160, 153) if all(ord(ch) < 128 for ch in text) else (70, 67)
    return 1 if len(text) <= single else -(-len(text) // part)


@dataclass(frozen=True, slots=True)
class SentSms:
    provider_id: str
    recipient: str
    text: str
    segments: int
    notification_id: int


class SimulatedSmsProvider:
    """Records every text it is given; fail_next() makes the next sends fail, transiently or for good."""

    name = "simulated"

    def __init__(self) -> None:
        self.sent: list[SentSms] = []
        self.calls = 0
        self._failures: deque[SendError] = deque()
        self._ids = itertools.count(1)

    def fail_next(self, times: int, *, permanent: bool = False, message: str = "simulated provider outage") -> None:
        """The next `times` sends raise (a PermanentSendError if permanent, else a TransientSendError)."""
        kind = PermanentSendError if permanent else TransientSendError
        self._failures.extend(kind(message) for _ in range(times))

    async def send(self, sms: OutgoingSms) -> str:
        """Record the text, or raise the next planned failure."""
        self.calls += 1
        if self._failures:
            raise self._failures.popleft()
        provider_id = f"sim-{next(self._ids)}"
        self.sent.append(SentSms(provider_id, sms.recipient, sms.text, segments(sms.text), sms.notification_id))
        return provider_id
