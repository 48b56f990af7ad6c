"""Notice templates as data: a subject, an e-mail body and an SMS text per locale, with str.format-style fields.

Rendering refuses a missing field and a field the template does not use (a typo in the caller's data would
otherwise vanish silently). Values are text, whole numbers, Decimals (written exactly, never through float) or
dates. Nothing is escaped: the output is plain text and PDF, never HTML.
"""
from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from central.notify.errors import Invalid

LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"
_SIGNATURE = {"zh-CN": "\n\n{estate_name} 物业服务中心", "en": "\n\n{estate_name} Property Management Office"}


@dataclass(frozen=True, slots=True)
class Template:
    subject: str
    body: str
    sms: str


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    body: str
    """The e-mail body, or the SMS text for the sms channel."""


def _zh(subject: str, body: str, sms: str) -> Template:
    return Template(subject, "尊敬的{resident_name}：\n\n" + body + _SIGNATURE["zh-CN"], sms)


def _en(subject: str, body: str, sms: str) -> Template:
    return Template(subject, "Dear {resident_name},\n\n" + body + _SIGNATURE["en"], sms)


TEMPLATES: dict[str, dict[str, Template]] = {
    "bill_notice": {
        "zh-CN": _zh("【{estate_name}】{period} 缴费通知（{unit}）",
                     "{unit} {period} 的费用账单已出，应缴金额合计 {total} 元，请于 {due_date} 前缴纳。账单明细见附件"
                     "《缴费通知单》。\n\n缴费方式：{payment_instructions}\n\n如已缴纳，请忽略本通知。",
                     "【{estate_name}】{resident_name}您好，{unit} {period} 费用合计 {total} 元，请于 {due_date} 前缴纳。"),
        "en": _en("[{estate_name}] Bill for {period} ({unit})",
                  "The bill of {unit} for {period} is ready: {total} CNY, due by {due_date}. The details are in the "
                  "attached notice.\n\nHow to pay: {payment_instructions}\n\nIf you have paid already, please "
                  "ignore this notice.",
                  "[{estate_name}] {unit} {period}: {total} CNY due by {due_date}."),
    },
    "payment_reminder": {
        "zh-CN": _zh("【{estate_name}】缴费提醒：{unit} {period} 账单将于 {due_date} 到期",
                     "{unit} {period} 的账单尚有 {amount_due} 元未缴，将于 {due_date} 到期，请及时缴纳。\n\n"
                     "缴费方式：{payment_instructions}\n\n如已缴纳，请忽略本提醒。",
                     "【{estate_name}】{unit} {period} 账单尚欠 {amount_due} 元，{due_date} 到期，请及时缴纳。"),
        "en": _en("[{estate_name}] Reminder: the {period} bill of {unit} is due on {due_date}",
                  "{amount_due} CNY of the {period} bill of {unit} is still unpaid; it is due on {due_date}.\n\n"
                  "How to pay: {payment_instructions}\n\nIf you have paid already, please ignore this reminder.",
                  "[{estate_name}] {unit} {period}: {amount_due} CNY due on {due_date}."),
    },
    "dunning_1": {
        "zh-CN": _zh("【{estate_name}】催缴通知：{unit} {period} 账单已逾期",
                     "{unit} {period} 的账单已于 {due_date} 到期，至今已逾期 {days_overdue} 天，尚欠 {amount_due} 元"
                     "（其中滞纳金 {late_fee} 元）。请尽快缴纳。\n\n缴费方式：{payment_instructions}",
                     "【{estate_name}】{unit} {period} 账单已逾期 {days_overdue} 天，尚欠 {amount_due} 元，请尽快缴纳。"),
        "en": _en("[{estate_name}] Overdue: the {period} bill of {unit}",
                  "The {period} bill of {unit} was due on {due_date} and is {days_overdue} days overdue: "
                  "{amount_due} CNY is unpaid (of which {late_fee} CNY late fee). Please pay soon.\n\n"
                  "How to pay: {payment_instructions}",
                  "[{estate_name}] {unit} {period}: {amount_due} CNY is {days_overdue} days overdue."),
    },
    "dunning_2": {
        "zh-CN": _zh("【{estate_name}】再次催缴通知：{unit} {period} 账单",
                     "{unit} {period} 的账单已逾期 {days_overdue} 天，尚欠 {amount_due} 元（其中滞纳金 {late_fee} 元），"
                     "到期日为 {due_date}。请于 {final_date} 前缴清；逾期仍未缴纳的，我们将依照物业服务合同依法追缴。\n\n"
                     "缴费方式：{payment_instructions}",
                     "【{estate_name}】{unit} 尚欠 {amount_due} 元，已逾期 {days_overdue} 天，请于 {final_date} 前缴清。"),
        "en": _en("[{estate_name}] Second notice: the {period} bill of {unit}",
                  "The {period} bill of {unit} (due {due_date}) is {days_overdue} days overdue: {amount_due} CNY is "
                  "unpaid (of which {late_fee} CNY late fee). Please pay by {final_date}; after that we will pursue "
                  "the debt as the property service contract provides.\n\nHow to pay: {payment_instructions}",
                  "[{estate_name}] {unit}: {amount_due} CNY, {days_overdue} days overdue; pay by {final_date}."),
    },
    "payment_receipt": {
        "zh-CN": _zh("【{estate_name}】缴费成功：{unit} {amount} 元",
                     "已收到 {unit} 的缴费 {amount} 元（收据号 {receipt_number}，{paid_at}）。感谢您的支持！",
                     "【{estate_name}】已收到 {unit} 缴费 {amount} 元，收据号 {receipt_number}。"),
        "en": _en("[{estate_name}] Payment received: {amount} CNY for {unit}",
                  "We received {amount} CNY for {unit} (receipt {receipt_number}, {paid_at}). Thank you.",
                  "[{estate_name}] Received {amount} CNY for {unit}, receipt {receipt_number}."),
    },
}


def fields_of(text: str) -> set[str]:
    """The field names a template text uses; only plain names are allowed (no attributes, indexes or specs)."""
    names = set()
    for _literal, field, spec, conversion in string.Formatter().parse(text):
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            raise ValueError(f"template field {{{field}}} must be a plain name")
        names.add(field)
    return names


def template_fields(name: str) -> frozenset[str]:
    """Every field a template uses in any locale and text: exactly what its data must hold."""
    if name not in TEMPLATES:
        raise Invalid("template", f"unknown template {name!r}; known: {', '.join(sorted(TEMPLATES))}")
    return frozenset().union(*(fields_of(text) for t in TEMPLATES[name].values() for text in (t.subject, t.body,
                                                                                              t.sms)))


def _text(field: str, value: Any) -> str:
    if isinstance(value, bool) or value is None:
        raise Invalid(f"data.{field}", f"expected text, a whole number, a Decimal or a date, got {value!r}")
    if isinstance(value, str):
        if "\x00" in value:
            raise Invalid(f"data.{field}", "contains a NUL character")
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise Invalid(f"data.{field}", f"{value} is not an amount")
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    raise Invalid(f"data.{field}", f"expected text, a whole number, a Decimal or a date, got {type(value).__name__}"
                                   " (send money as Decimal, never float)")


def plain_data(name: str, data: Mapping[str, Any]) -> dict[str, str]:
    """The data as the text the template will show; refuses missing and unknown fields."""
    wanted = template_fields(name)
    missing, unknown = sorted(wanted - data.keys()), sorted(data.keys() - wanted)
    if missing or unknown:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unknown {', '.join(unknown)}"] if unknown else [])
        raise Invalid("data", f"template {name!r} takes exactly {', '.join(sorted(wanted))}: {'; '.join(parts)}")
    return {field: _text(field, data[field]) for field in sorted(wanted)}


def render(name: str, locale: str, channel: str, data: Mapping[str, Any]) -> Rendered:
    """Subject and text of a template for a channel and locale."""
    if locale not in LOCALES:
        raise Invalid("locale", f"expected one of {', '.join(LOCALES)}, got {locale!r}")
    values = plain_data(name, data)
    template = TEMPLATES[name][locale]
    subject = " ".join(template.subject.format_map(values).split())  # a newline in a header would be an injection
    if len(subject) > 256:
        raise Invalid("data", f"the subject would be {len(subject)} characters; at most 256")
    body = template.sms if channel == "sms" else template.body
    return Rendered(subject, body.format_map(values))
