"""Templates as data (refusing unknown and missing fields), amounts in capitals, the PDF read back, the font."""
from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pypdf
import pytest
from pydantic import ValidationError

from central.notify.document import NoticeDocument, loaded, rmb_upper, stored
from central.notify.errors import FontMissing, Invalid
from central.notify import pdf, templates
from central.notify.pdf import FONT_PACKAGE, find_font, render_notice
from tests.notify.conftest import bill_document

BILL = {"estate_name": "演示花园", "resident_name": "张三", "unit": "3栋1201室", "period": "2026-11",
        "total": Decimal("322.65"), "due_date": date(2026, 11, 30), "payment_instructions": "前台缴费"}


def test_every_template_has_both_locales_with_the_same_fields():
    for name, locales in templates.TEMPLATES.items():
        assert set(locales) == set(templates.LOCALES), name
        per_locale = [templates.fields_of(t.subject + t.body + t.sms) for t in locales.values()]
        assert all(fields == per_locale[0] for fields in per_locale), name
    assert {"bill_notice", "payment_reminder", "dunning_1", "dunning_2"} <= set(templates.TEMPLATES)


def test_rendering_fills_every_field_in_each_locale():
    zh = templates.render("bill_notice", "zh-CN", "email", BILL)
    assert zh.subject == "【演示花园】2026-11 缴费通知（3栋1201室）"
    assert zh.body.startswith("尊敬的张三：") and "322.65 元" in zh.body and "演示花园 物业服务中心" in zh.body
    en = templates.render("bill_notice", "en", "email", BILL)
    assert en.subject == "[演示花园] Bill for 2026-11 (3栋1201室)" and "322.65 CNY, due by 2026-11-30" in en.body
    sms = templates.render("bill_notice", "zh-CN", "sms", BILL)
    assert sms.body == "【演示花园】张三您好，3栋1201室 2026-11 费用合计 322.65 元，请于 2026-11-30 前缴纳。"


@pytest.mark.parametrize("data, message", [
    ({k: v for k, v in BILL.items() if k != "total"}, "missing total"),
    ({**BILL, "totl": "1"}, "unknown totl"),
    ({**BILL, "total": 322.65}, "never float"),
    ({**BILL, "total": None}, "expected text"),
    ({**BILL, "unit": "3栋\x00"}, "NUL"),
])
def test_rendering_refuses_bad_data(data, message):
    with pytest.raises(Invalid, match=message):
        templates.render("bill_notice", "zh-CN", "email", data)


def test_unknown_template_and_locale_and_header_injection():
    with pytest.raises(Invalid, match="unknown template"):
        templates.render("bill_notise", "zh-CN", "email", BILL)
    with pytest.raises(Invalid, match="locale"):
        templates.render("bill_notice", "fr", "email", BILL)
    subject = templates.render("bill_notice", "zh-CN", "email", {**BILL, "unit": "3栋\r\nBcc: x@example.com"}).subject
    assert "\n" not in subject and "\r" not in subject
    with pytest.raises(ValueError, match="plain name"):
        templates.fields_of("{data.__class__}")


@pytest.mark.parametrize("amount, upper", [
    ("0", "零元整"), ("0.05", "伍分"), ("1.05", "壹元零伍分"), ("10.50", "壹拾元伍角整"), ("100", "壹佰元整"),
    ("1010", "壹仟零壹拾元整"), ("10001", "壹万零壹元整"), ("100200", "壹拾万零贰佰元整"), ("101000", "壹拾万壹仟元整"),
    ("100001000", "壹亿零壹仟元整"), ("100100000", "壹亿零壹拾万元整"), ("1234.56", "壹仟贰佰叁拾肆元伍角陆分"),
    ("-20.00", "负贰拾元整"),
])
def test_amounts_in_capitals(amount, upper):
    assert rmb_upper(Decimal(amount)) == upper


def test_the_document_totals_its_lines_and_refuses_floats():
    document = bill_document()
    assert document.total == Decimal("322.65")
    assert loaded(stored(document)) == document
    assert stored(document)["lines"][0]["amount"] == "301.25"
    with pytest.raises(ValidationError, match="float"):
        bill_document(lines=[{"item": "物业费", "amount": 1.1}])
    with pytest.raises(ValidationError, match="decimal"):
        bill_document(lines=[{"item": "物业费", "amount": "1.001"}])


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def test_the_pdf_reads_back_with_chinese_text_and_amounts():
    text = pdf_text(render_notice(bill_document(), find_font()))
    for expected in ("物业费缴费通知单", "演示花园", "房号", "3栋1201室", "住户", "张三", "缴费截止日期", "2026-11-30",
                     "物业服务费", "301.25", "水费", "41.40", "预存抵扣", "-20.00", "合计", "322.65",
                     "大写：叁佰贰拾贰元陆角伍分", "缴费方式"):
        assert expected in text, expected


def test_a_long_english_notice_runs_onto_more_pages():
    lines = [{"item": f"Parking space B-{n:03d}", "detail": "monthly fee", "amount": "300.00"} for n in range(60)]
    data = render_notice(bill_document(locale="en", title="Payment notice", lines=lines), find_font())
    reader = pypdf.PdfReader(io.BytesIO(data))
    assert len(reader.pages) >= 2
    text = pdf_text(data)
    assert "Amount (CNY)" in text and "18000.00" in text and "Parking space B-059" in text


def test_a_missing_font_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setattr(pdf, "DEFAULT_FONT", tmp_path / "wqy-microhei.ttc")
    with pytest.raises(FontMissing, match=f"apt-get install {FONT_PACKAGE}"):
        find_font()
    with pytest.raises(FontMissing, match="notify.font_file"):
        find_font(tmp_path / "nope.ttf")


def test_documents_are_validated():
    with pytest.raises(ValidationError):
        NoticeDocument(title="", estate_name="x", unit="x", resident="x", issued_on=date(2026, 11, 1), lines=[])
