"""One running platform process: its database, vault, public log, scheduler and proposal writer,
and the platform's parts, each a small service over the database:

============================  =============================================================
``platform.accounts``         accounts, sessions, bearer tokens, grants (:mod:`.accounts`)
``platform.cycles``           cycles, councils, invitations, seats (:mod:`.cycles`)
``platform.rounds``           proposals and round closes (:mod:`.rounds`, :mod:`.intake`)
``platform.votes``            plan variants, the vote, secret ballots (:mod:`.votes`)
``platform.views``            what pages and the API read (:mod:`.views`)
============================  =============================================================

Any number of processes may run over one PostgreSQL database: every fact that decides an answer
is read from the database when it is needed; what a process keeps in memory is either immutable
(a cycle's economy and councils, a round's posted prices) or about the process itself (its
writer threads, its bound on password hashes).
"""

from __future__ import annotations

import contextlib
from typing import Any

from sqlalchemy import select

from glasnost.db.engine import Database, migrate
from glasnost.db.settings import Settings
from glasnost.db.vault import Vault, log_signing_key, master_secret
from glasnost.service import models as m
from glasnost.service.accounts import Accounts, Viewer
from glasnost.service.cycles import Cycles
from glasnost.service.errors import NotFoundError
from glasnost.service.intake import Intake
from glasnost.service.jobs import jobs_for
from glasnost.service.openbooks import OpenBooks
from glasnost.service.rounds import Rounds, proposal_payload
from glasnost.service.views import Views
from glasnost.service.votes import Votes

__all__ = ["Platform", "Viewer"]


class Platform:
    """One platform process over its database (see the module's docstring)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings)
        migrate(self.db)
        self.vault = Vault(self.db, master_secret(settings.secret, settings.master_secret_path()))
        key, _ = log_signing_key(self.db, settings)
        self.books = OpenBooks(self.db, settings.ledger_source(), key, schema=settings.schema)
        self.accounts = Accounts(self)
        self.cycles = Cycles(self)
        self.rounds = Rounds(self)
        self.votes = Votes(self)
        self.views = Views(self)
        self._democracy()
        self.jobs = jobs_for(self)
        self.recovered = self.recover()
        self.intake = Intake(self)
        self._warm_up()

    def _warm_up(self) -> None:
        """Load the engines and councils of cycles whose rounds are running, so that the first
        proposals of a round do not wait for an economy to be read."""
        with self.db.read() as s:
            running = list(s.scalars(select(m.Cycle.id).where(m.Cycle.status == "rounds")))
        for cycle_id in running[-4:]:
            self.cycles.engine(cycle_id)
            with contextlib.suppress(NotFoundError):
                self.cycles.council(cycle_id, "")

    def recover(self) -> int:
        """Publish what a crash left unpublished (see :mod:`glasnost.service.openbooks`)."""
        rows = self.books.recover(
            [
                (m.Proposal.__table__, "proposal", proposal_payload, None),
                # an open round has no result to publish yet
                (
                    m.Round.__table__,
                    "round-result",
                    lambda r: {"id": r.id, **(r.result or {})},
                    m.Round.status == "closed",
                ),
                (  # as Votes.publish_variants publishes it
                    m.PlanVariant.__table__,
                    "plan-variant",
                    lambda r: {"id": r.id, "cycle": r.cycle_id, "description": r.description, **r.data},
                    None,
                ),
            ]
        )
        from glasnost.service.debate.logbook import LOGGED  # criticism and amendments

        return rows + self.votes.recover() + self.books.recover(LOGGED)

    def check_books(self, *, grace: float | None = None) -> list[Any]:
        """Every row of the platform's tables (and the control tables) that does not agree with the
        public log, re-derived from it (:mod:`glasnost.service.bindings`); rows not published yet come
        back with ``pending`` set. What a crash left unpublished was published when this process
        started (:meth:`recover`), so an old row without an entry is not a crash's leftover.
        Reads the log through a connection of its own: the log's writer goes on meanwhile."""
        from glasnost.control.bindings import CONTROL_BINDINGS, PUBLISH_GRACE, check_bindings
        from glasnost.ledger import Ledger
        from glasnost.service.bindings import PLATFORM_BINDINGS

        self.books.sync()
        with Ledger.open(self.settings.ledger_source(), schema=self.settings.schema, create=False) as ledger:
            return check_bindings(ledger, self.db, (*CONTROL_BINDINGS, *PLATFORM_BINDINGS),
                                  grace=PUBLISH_GRACE if grace is None else grace)

    def start(self) -> None:
        """Start this process's share of the scheduled work (round deadlines, alerts; see
        :mod:`glasnost.service.jobs`), unless ``settings.jobs`` is off."""
        if self.settings.jobs:
            self.jobs.start()

    def close(self) -> None:
        self.jobs.stop()
        self.intake.close()
        self.books.close()
        self.db.dispose()

    @staticmethod
    def dump(obj: Any) -> str:
        import json

        return json.dumps(obj, indent=1, sort_keys=True)

    def _democracy(self) -> None:
        """Elections, recall and notifications (issue 18): ``platform.elections``,
        ``platform.recalls`` (:mod:`.elections`), ``platform.notifications`` (:mod:`.notifications`)."""
        from glasnost.service.elections.recall import Recalls
        from glasnost.service.elections.service import Elections
        from glasnost.service.elections.views import ElectionViews
        from glasnost.service.notifications.service import Notifications

        self.elections = Elections(self)
        self.election_views = ElectionViews(self)
        self.recalls = Recalls(self)
        self.notifications = Notifications(self)
        self.elections.recover()
