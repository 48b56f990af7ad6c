"""The notice document a PDF is rendered from: who, where, the lines with their amounts, the total, the due date.

Amounts are Decimals with at most two places (floats are refused: they may not be exact); the total is the sum
of the lines, never a number the caller could get wrong. Stored as JSON with amounts as strings.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, computed_field

DIGITS = "零壹贰叁肆伍陆柒捌玖"
PLACES = ("", "拾", "佰", "仟")
GROUPS = ("", "万", "亿")
CENT = Decimal("0.01")


def _no_float(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError(f"send amounts as strings or Decimal, e.g. \"{value}\": a float may not be exact")
    return value


Amount = Annotated[Decimal, BeforeValidator(_no_float), Field(max_digits=14, decimal_places=2)]
Text = Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00]*$")]
LongText = Annotated[str, StringConstraints(max_length=2000, pattern=r"^[^\x00]*$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoticeLine(_Model):
    item: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00]*$")]
    """物业费, 水费, 滞纳金, ..."""
    detail: Text = ""
    """How it was priced, e.g. 120.50 m² × 2.50 元/m²."""
    amount: Amount
    """Negative for a credit (a discount, a prepayment used)."""


class NoticeDocument(_Model):
    title: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00]*$")]
    estate_name: Text
    unit: Text
    """As residents write it, e.g. 3栋1201室."""
    resident: Text
    period: Text = ""
    reference: Text = ""
    """The bill number, shown on the notice and worth quoting when paying."""
    issued_on: date
    due_date: date | None = None
    lines: list[NoticeLine] = Field(min_length=1, max_length=200)
    payment_instructions: LongText = ""
    note: LongText = ""
    locale: Literal["zh-CN", "en"] = "zh-CN"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total(self) -> Decimal:
        """The sum of the lines, to the cent."""
        return sum((line.amount for line in self.lines), Decimal("0.00")).quantize(CENT)


def stored(document: NoticeDocument) -> dict[str, Any]:
    """The document as JSON-safe data (amounts as exact strings), without the derived total."""
    return document.model_dump(mode="json", exclude={"total"})


def loaded(data: dict[str, Any]) -> NoticeDocument:
    """A stored document back as a model."""
    return NoticeDocument.model_validate(data)


def money(amount: Decimal) -> str:
    """An amount with two places and no grouping: 1234.50, -20.00."""
    return str(amount.quantize(CENT))


def _group(number: int, out: list[str], zero_before: bool) -> None:
    """Write a 1..9999 group; a zero is written before a non-zero digit that follows skipped places."""
    for place in (3, 2, 1, 0):
        digit = number // 10 ** place % 10
        if digit == 0:
            zero_before = zero_before or bool(out)
            continue
        if zero_before:
            out.append("零")
            zero_before = False
        out.append(DIGITS[digit] + PLACES[place])


def rmb_upper(amount: Decimal) -> str:
    """The amount in capital Chinese numerals as written on receipts: 1234.50 -> 壹仟贰佰叁拾肆元伍角整."""
    value = abs(amount).quantize(CENT)
    yuan, cents = int(value), int(value * 100) % 100
    if yuan >= 10 ** 12:
        raise ValueError(f"{amount} is too large to write in capitals")
    out: list[str] = []
    if yuan:
        zero = False
        for index in (2, 1, 0):
            group = yuan // 10 ** (4 * index) % 10 ** 4
            if group == 0:
                zero = zero or bool(out)
                continue
            _group(group, out, zero)
            out.append(GROUPS[index])
            zero = False  # a group's own trailing zeros are not read: 101000 is 壹拾万壹仟
        out.append("元")
    jiao, fen = divmod(cents, 10)
    if jiao:
        out.append(DIGITS[jiao] + "角")
    elif fen and yuan:
        out.append("零")
    if fen:
        out.append(DIGITS[fen] + "分")
    if not out:
        out.append("零元")
    if not fen:
        out.append("整")
    return ("负" if amount < 0 and value else "") + "".join(out)
