"""Modbus meters (RTU on RS-485, and TCP): register maps as data, decoded without I/O."""
from drivers.modbus_meter.registers import (
    FUNCTION_CODES,
    MAX_READ_COUNT,
    ORDERS,
    TYPES,
    ByteOrder,
    Function,
    ReadBlock,
    Register,
    WireType,
    decode_block,
    decode_value,
    encode_value,
    plan_reads,
)

__all__ = [
    "FUNCTION_CODES",
    "MAX_READ_COUNT",
    "ORDERS",
    "TYPES",
    "ByteOrder",
    "Function",
    "ReadBlock",
    "Register",
    "WireType",
    "decode_block",
    "decode_value",
    "encode_value",
    "plan_reads",
]
