"""The roles of an estate system; what each may do is in central/auth/permissions.py."""
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"            # system administrator: every estate, user management
    MANAGER = "manager"        # estate manager: everything in their estates, the audit log
    CASHIER = "cashier"
    GUARD = "guard"
    TECHNICIAN = "technician"  # repair technician
    PATROL = "patrol"          # patrol officer
    RESIDENT = "resident"      # owner, family member or tenant: only their own units


ALL_ROLES = frozenset(Role)
STAFF_ROLES = ALL_ROLES - {Role.RESIDENT}
