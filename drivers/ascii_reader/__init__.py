"""Serial card readers that print ASCII frames (EM4100/RDM6300 hex, decimal lines): codec and adapter."""
from drivers.ascii_reader.adapter import AsciiReaderAdapter, mask_card
from drivers.ascii_reader.codec import (
    DECIMAL_LINE,
    EM4100,
    FORMATS,
    AsciiReaderDecoder,
    CardFrame,
    Decoded,
    ReaderFormat,
    Rejected,
    RejectReason,
    encode_card,
    encode_decimal_line,
    encode_em4100,
    reader_format,
)

__all__ = [
    "DECIMAL_LINE",
    "EM4100",
    "FORMATS",
    "AsciiReaderAdapter",
    "AsciiReaderDecoder",
    "CardFrame",
    "Decoded",
    "ReaderFormat",
    "RejectReason",
    "Rejected",
    "encode_card",
    "encode_decimal_line",
    "encode_em4100",
    "mask_card",
    "reader_format",
]
