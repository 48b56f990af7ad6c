"""Metering: consumption from cumulative meter readings and leak detection, pure and in Decimal."""
