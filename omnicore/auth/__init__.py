"""auth."""

from __future__ import annotations

from omnicore.auth._service import (
    PASSWORD_MAX,
    PASSWORD_MIN,
    AuthService,
    CustomerToken,
    IssuedKey,
    Permission,
    StaffPrincipal,
)

__all__ = [
    "PASSWORD_MAX",
    "PASSWORD_MIN",
    "AuthService",
    "CustomerToken",
    "IssuedKey",
    "Permission",
    "StaffPrincipal",
]
