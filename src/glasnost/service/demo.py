"""``glasnost serve --demo``: a demo cycle on the bundled economy whose councils are modelled until
a visitor takes a seat; rounds close by themselves every ten minutes: long enough for a person to read
the prices and fill in a proposal, short enough to watch the rounds progress."""

from __future__ import annotations

import logging

from sqlalchemy import select

from glasnost.service import models as m
from glasnost.service.accounts import Viewer
from glasnost.service.platform import Platform
from glasnost.service.security import new_token

__all__ = ["DEMO_BOARD", "ensure_demo"]

DEMO_BOARD = "demo-board"
log = logging.getLogger("glasnost.service")


DEMO_ROUND_SECONDS = 600.0


def ensure_demo(platform: Platform, *, round_seconds: float = DEMO_ROUND_SECONDS) -> int:
    """The demo cycle's id, creating it (and a ``demo-board`` account) if there is none."""
    with platform.db.read() as s:
        existing = s.scalar(select(m.Cycle.id).where(m.Cycle.demo.is_(True)).order_by(m.Cycle.id))
        board = s.scalar(select(m.Account).where(m.Account.username == DEMO_BOARD))
    if existing is not None:
        return existing
    if board is None:
        password = new_token()
        board_id = platform.accounts.create(DEMO_BOARD, password, board=True)
        log.warning("demo board account %r created with password %s", DEMO_BOARD, password)
    else:
        board_id = board.id
    viewer = Viewer(board_id, DEMO_BOARD, True, "system")
    return platform.cycles.create(
        viewer, "Demo: the bundled economy", "demo", deadline_seconds=round_seconds, demo=True
    )
