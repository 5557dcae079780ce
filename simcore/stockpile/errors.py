"""The error of stockpile sizing: bad options, or a target no stockpile reaches."""

from __future__ import annotations

from simcore.errors import SupplyShockError


class StockpileError(SupplyShockError):
    """An option of ``supplyshock stockpile`` the user can fix, or a target that no
    finite stockpile reaches (the message says the best reachable value)."""
