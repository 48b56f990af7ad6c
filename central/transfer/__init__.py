"""Data migration (数据迁移): import and export of the estate registry as CSV and XLSX sheets."""
