"""Whole-database consistency checks that span apps: every user's state against their ledger.

The project package composes the apps here (as engagement/urls.py does): progression replays
the ledger, inventory says what each user holds.
"""

from __future__ import annotations

from inventory.selectors import holdings_by_user
from progression.ledger import LedgerReport, replay_and_compare
from progression.services import get_rules


def verify_ledger() -> LedgerReport:
    """Every user's stored state equals the replay of their events, and items held match."""
    return replay_and_compare(get_rules(), holdings=holdings_by_user())
