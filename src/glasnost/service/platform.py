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

from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from glasnost.db.engine import Database, migrate
from glasnost.db.settings import Settings
from glasnost.db.vault import Vault, master_secret
from glasnost.ledger import load_signing_key
from glasnost.ledger.keys import Ed25519PrivateKey, generate_signing_key
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

__all__ = ["LOG_KEY", "Platform", "Viewer"]

LOG_KEY = "log-signing-key"
"""The vault's name for the Ed25519 key that signs the public log's checkpoints."""


class Platform:
    """One platform process over its database (see the module's docstring)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings)
        migrate(self.db)
        self.vault = Vault(self.db, master_secret(settings.secret, settings.master_secret_path()))
        self.books = OpenBooks(self.db, settings.ledger_source(), self._signing_key(), schema=settings.schema)
        self.accounts = Accounts(self)
        self.cycles = Cycles(self)
        self.rounds = Rounds(self)
        self.votes = Votes(self)
        self.views = Views(self)
        self.jobs = jobs_for(self)
        self.recovered = self.recover()
        self.intake = Intake(self)
        self._warm_up()

    def _signing_key(self) -> Ed25519PrivateKey:
        """The log's signing key, from the vault; made at the first start (from ``Settings.key_path``
        when such a file exists, so a log signed before keys moved into the database stays valid)."""
        old = self.settings.signing_key_path()

        def make() -> bytes:
            key = load_signing_key(old) if old.exists() else generate_signing_key()
            return key.private_bytes(
                serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
            )

        return Ed25519PrivateKey.from_private_bytes(self.vault.get_or_create(LOG_KEY, make))

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
                (m.Proposal.__table__, "proposal", proposal_payload),
                (m.Round.__table__, "round-result", lambda r: {"id": r.id, **(r.result or {})}),
                (m.PlanVariant.__table__, "plan-variant", lambda r: {"id": r.id, **r.data}),
            ]
        )
        return rows + self.votes.recover()

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
