"""What metering noticed about a period: typed findings, each saying whether it holds billing or marks an estimate."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar, Literal


class Finding:
    """Something noticed while metering; `holds` stops billing, `estimates` marks the result an estimate."""

    __slots__ = ()
    template: ClassVar[str] = ""
    """The reason, with the fields in str.format's braces: "{self.at}", "{self.days:.2f}"."""

    @property
    def holds(self) -> bool:
        """True when the period must not be billed until someone looks."""
        return False

    @property
    def estimates(self) -> bool:
        """True when the quantity is (partly) an estimate."""
        return False

    @property
    def reason(self) -> str:
        """The finding in words."""
        if not self.template:
            raise NotImplementedError
        return self.template.format(self=self)


class _Holds(Finding):
    __slots__ = ()

    @property
    def holds(self) -> bool:
        return True


class _Estimates(Finding):
    __slots__ = ()

    @property
    def estimates(self) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class Rollover(Finding):
    """The register wrapped past its limit; counted as limit - previous + current + resolution."""

    at: datetime
    previous: Decimal
    current: Decimal
    quantity: Decimal
    template = "register rolled over at {self.at}: {self.previous} -> {self.current} counted as {self.quantity}"


@dataclass(frozen=True, slots=True)
class MeterReplaced(Finding):
    """A replacement inside the period, bridged from the old meter's final to the new meter's first reading."""

    at: datetime
    old_serial: str
    old_final: Decimal
    new_serial: str
    new_first: Decimal
    template = ("meter {self.old_serial} (final {self.old_final}) replaced by {self.new_serial} "
                "(first {self.new_first}) at {self.at}")


@dataclass(frozen=True, slots=True)
class NegativeStep(_Holds):
    """A reading below the previous one that is not a plausible rollover."""

    at: datetime
    previous: Decimal
    current: Decimal
    template = ("reading {self.current} at {self.at} is below the previous {self.previous} and is not a plausible "
                "rollover: check the meter and correct or invalidate the reading")


@dataclass(frozen=True, slots=True)
class OutOfRange(_Holds):
    """A value outside 0..rollover limit, which the register cannot show."""

    at: datetime
    value: Decimal
    limit: Decimal
    template = "value {self.value} at {self.at} is outside 0..{self.limit}: check the meter kind or the reading"


@dataclass(frozen=True, slots=True)
class MeterMismatch(_Holds):
    """A reading or replacement names a meter other than the one fitted, with no replacement linking them."""

    at: datetime
    expected_serial: str
    found_serial: str
    template = ("at {self.at} meter {self.found_serial} appears where {self.expected_serial} is fitted: "
                "record the replacement that links them")


@dataclass(frozen=True, slots=True)
class Implausible(_Holds):
    """The period's quantity exceeds the meter kind's plausible maximum."""

    quantity: Decimal
    limit: Decimal
    days: Decimal
    template = ("{self.quantity} in {self.days:.2f} days exceeds the plausible {self.limit}: check for a bad "
                "reading or a burst pipe before billing")


@dataclass(frozen=True, slots=True)
class MissingReading(Finding):
    """No usable reading within the tolerance before a boundary."""

    boundary: Literal["start", "end"]
    at: datetime
    estimated: bool

    @property
    def holds(self) -> bool:
        return not self.estimated

    @property
    def reason(self) -> str:
        then = "estimated" if self.estimated else "held: read the meter, or pass an EstimateRule"
        return f"no reading at the period {self.boundary} {self.at}; {then}"


@dataclass(frozen=True, slots=True)
class Estimated(_Estimates):
    """The quantity is average daily use of past periods times the period's days."""

    periods: int
    daily_average: Decimal
    days: Decimal
    quantity: Decimal
    template = ("estimated {self.quantity}: {self.daily_average:.4f} a day over the last {self.periods} periods "
                "x {self.days:.2f} days")


@dataclass(frozen=True, slots=True)
class EstimateUnavailable(_Holds):
    """An estimate was asked for but there are too few actual past periods."""

    needed: int
    available: int
    template = "cannot estimate: needs {self.needed} actual past periods, has {self.available}"


@dataclass(frozen=True, slots=True)
class EstimatedEndReading(_Estimates):
    """The end reading is itself an estimate."""

    at: datetime
    template = "the end reading at {self.at} is an estimate"


@dataclass(frozen=True, slots=True)
class TrueUp(Finding):
    """The start reading was an estimate, so this period corrects it with actual readings."""

    at: datetime
    estimated_value: Decimal
    template = "starts from the estimated reading {self.estimated_value} at {self.at}: this period trues it up"


@dataclass(frozen=True, slots=True)
class IgnoredReading(Finding):
    """A reading flagged INVALID near the period, left out."""

    at: datetime
    serial: str
    template = "reading of {self.serial} at {self.at} is flagged invalid and was ignored"


class Status(StrEnum):
    """Whether the period can be billed."""

    OK = "ok"
    ESTIMATED = "estimated"
    HELD = "held"
