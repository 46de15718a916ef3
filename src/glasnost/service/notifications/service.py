"""Notifications: what happened, to whom, and how it is sent.

:func:`notify` is what any part of the platform calls, inside its own transaction, when something
happens that members may want to hear of. A public event (``to`` left out) goes into the cycle's
Atom feed and to every member of the cycle who asked for its ``kind`` by email; a private one
(``to``: account ids, e.g. criticism addressed to a workplace's accounts) only to those of them who
asked for it. Mails are written to the outbox in the same transaction and sent by the job queue
(PostgreSQL) or the in-process scheduler (SQLite), never inside the request
(:meth:`Notifications.deliver`). Events the platform does not announce itself (rounds opened,
closing soon, closed; votes decided) are found by the same scheduled work
(:meth:`Notifications.announce_rounds`).

SMTP: ``GLASNOST_SMTP_HOST`` (no host: mails wait in the outbox), ``GLASNOST_SMTP_PORT`` (25),
``GLASNOST_MAIL_FROM`` (``glasnost@localhost``), or the same names in lower case without the
prefix in ``Settings.extra`` (``smtp_host``, ``smtp_port``, ``mail_from``).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import smtplib
from collections.abc import Iterable
from datetime import timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, NamedTuple
from xml.etree import ElementTree as ET

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from glasnost.db.engine import utcnow
from glasnost.service import models as m
from glasnost.service.accounts import Viewer, audit
from glasnost.service.errors import BadInputError
from glasnost.service.messages import N_
from glasnost.service.notifications.models import FeedEntry, NotificationPrefs, OutboxMail

if TYPE_CHECKING:
    from glasnost.service.platform import Platform

__all__ = ["KINDS", "Notifications", "notify"]

log = logging.getLogger("glasnost.service")

KINDS: tuple[str, ...] = ("rounds", "elections", "recall", "results", "criticism")
"""What a member may choose to hear of: rounds opened or closing soon, elections, recall petitions,
results (of rounds, votes and elections), criticism addressed to them."""
KIND_NAMES = {
    "rounds": N_("rounds: opened, or closing within the hour"),
    "elections": N_("elections: calls for candidates and votes"),
    "recall": N_("recall petitions and recall votes"),
    "results": N_("results of rounds, votes and elections"),
    "criticism": N_("criticism addressed to you"),
}
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,60}$")
CLOSING_SOON = timedelta(hours=1)


WORD_PARAMS = frozenset({"post"})
"""Parameters whose values are words of the catalogue (a post: ``delegates``, ``manager``,
``recall``), translated with the template; other values are names and numbers, put in as they are."""


def _text(template: str, params: dict[str, Any], locale: str) -> str:
    from glasnost.service.i18n import translations

    t = translations(locale)
    words = {k: t.gettext(v) if k in WORD_PARAMS else v for k, v in params.items()}
    return t.gettext(template).format(**words)


def notify(
    s: Session,
    kind: str,
    title: str,
    *,
    cycle_id: int | None = None,
    summary: str = "",
    link: str = "",
    params: dict[str, Any] | None = None,
    key: str | None = None,
    to: Iterable[int] | None = None,
) -> int:
    """Tell members that something happened; returns how many mails were queued.

    Call it inside the transaction that made the event (``s``), so that the event and its notice
    are stored together or not at all.

    kind
        One of :data:`KINDS`: what members choose to get (``criticism`` for criticism addressed to
        someone).
    title, summary
        Message templates in English, marked with ``N_`` for translation; ``{name}`` stands for a
        value of ``params`` (each recipient gets them in their language).
    cycle_id
        The cycle it is about (its feed; its members are the recipients of a public event).
    link
        A path on the platform (``/elections/3``), put in the mail and the feed.
    key
        Makes a public notice idempotent: a second call with the same key does nothing.
    to
        Account ids of a private notice (no feed entry); left out, the notice is public.
    """
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r} is not one of {KINDS}")
    params = {k: str(v) for k, v in (params or {}).items()}
    private = to is not None
    if not private:  # public: the feed, once per key
        if key is not None and s.scalar(select(FeedEntry.id).where(FeedEntry.key == key)) is not None:
            return 0
        s.add(
            FeedEntry(
                cycle_id=cycle_id,
                key=key or f"{kind}:{secrets.token_hex(12)}",
                kind=kind,
                title=title,
                summary=summary,
                params=params,
                link=link,
            )
        )
    if private:
        recipients = select(NotificationPrefs).where(NotificationPrefs.account_id.in_(list(to or [])))
    else:
        members = select(m.Membership.account_id).where(m.Membership.cycle_id == cycle_id)
        recipients = select(NotificationPrefs).where(NotificationPrefs.account_id.in_(members))
    queued = 0
    for prefs in s.scalars(recipients.where(NotificationPrefs.email.is_not(None))):
        if kind not in (prefs.kinds or []):
            continue
        body = _text(summary, params, prefs.locale) if summary else ""
        if link:
            body = f"{body}\n\n{link}".strip()
        s.add(
            OutboxMail(
                account_id=prefs.account_id,
                kind=kind,
                address=prefs.email or "",
                subject=_text(title, params, prefs.locale)[:300],
                body=body,
            )
        )
        queued += 1
    return queued


class Notifications:
    """Members' choices, the feed, and sending the outbox."""

    def __init__(self, platform: Platform) -> None:
        self.p = platform

    # ---- choices -----------------------------------------------------------------------------------

    def prefs(self, viewer: Viewer) -> dict[str, Any]:
        viewer.require()
        with self.p.db.read() as s:
            row = s.get(NotificationPrefs, viewer.account_id)
            return {
                "email": row.email if row else "",
                "kinds": list(row.kinds) if row else [],
                "locale": row.locale if row else "en",
            }

    def choose(self, viewer: Viewer, email: str, kinds: list[str], locale: str = "en") -> dict[str, Any]:
        """Save what the member wants by email (no address: nothing by email)."""
        viewer.require()
        email = email.strip()
        if email and not EMAIL.match(email):
            raise BadInputError(f"{email[:60]!r} is not an email address", where="email")
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise BadInputError(f"kind {unknown[0][:40]!r}: choose one of {', '.join(KINDS)}", where="kind")
        with self.p.db.write() as s:
            row = s.get(NotificationPrefs, viewer.account_id)
            if row is None:
                row = NotificationPrefs(account_id=viewer.account_id)
                s.add(row)
            row.email, row.kinds, row.locale = email or None, sorted(set(kinds)), locale
            audit(s, viewer, "notification-prefs", ",".join(sorted(set(kinds))))
        return self.prefs(viewer)

    # ---- the feed ----------------------------------------------------------------------------------

    def entries(self, cycle_id: int, limit: int = 50) -> list[FeedEntry]:
        with self.p.db.read() as s:
            return list(
                s.scalars(
                    select(FeedEntry).where(FeedEntry.cycle_id == cycle_id).order_by(FeedEntry.id.desc()).limit(limit)
                )
            )

    def atom(self, cycle_id: int, base_url: str, locale: str = "en") -> bytes:
        """The cycle's Atom feed (RFC 4287), newest first, in ``locale``."""
        with self.p.db.read() as s:
            cycle = self.p.cycles.get(s, cycle_id)
            name = cycle.name
        entries = self.entries(cycle_id)
        ns = "http://www.w3.org/2005/Atom"
        ET.register_namespace("", ns)
        feed = ET.Element(f"{{{ns}}}feed")
        ET.SubElement(feed, f"{{{ns}}}title").text = _text(N_("Planning cycle {cycle}: news"), {"cycle": name}, locale)
        ET.SubElement(feed, f"{{{ns}}}id").text = f"{base_url}/cycles/{cycle_id}/feed.atom"
        ET.SubElement(feed, f"{{{ns}}}link", href=f"{base_url}/cycles/{cycle_id}")
        ET.SubElement(feed, f"{{{ns}}}link", rel="self", href=f"{base_url}/cycles/{cycle_id}/feed.atom")
        updated = entries[0].created_at if entries else utcnow()
        ET.SubElement(feed, f"{{{ns}}}updated").text = updated.isoformat(timespec="seconds") + "Z"
        ET.SubElement(ET.SubElement(feed, f"{{{ns}}}author"), f"{{{ns}}}name").text = "glasnost"
        for e in entries:
            entry = ET.SubElement(feed, f"{{{ns}}}entry")
            ET.SubElement(entry, f"{{{ns}}}title").text = _text(e.title, e.params or {}, locale)
            ET.SubElement(entry, f"{{{ns}}}id").text = f"{base_url}/feed-entries/{e.id}"
            ET.SubElement(entry, f"{{{ns}}}updated").text = e.created_at.isoformat(timespec="seconds") + "Z"
            ET.SubElement(entry, f"{{{ns}}}category", term=e.kind)
            if e.link:
                ET.SubElement(entry, f"{{{ns}}}link", href=base_url + e.link)
            if e.summary:
                ET.SubElement(entry, f"{{{ns}}}summary").text = _text(e.summary, e.params or {}, locale)
        return ET.tostring(feed, encoding="utf-8", xml_declaration=True)

    # ---- sending -----------------------------------------------------------------------------------

    def smtp(self) -> tuple[str | None, int, str]:
        extra = self.p.settings.extra
        host = extra.get("smtp_host") or os.environ.get("GLASNOST_SMTP_HOST")
        port = int(extra.get("smtp_port") or os.environ.get("GLASNOST_SMTP_PORT") or 25)  # type: ignore[arg-type]
        sender = str(extra.get("mail_from") or os.environ.get("GLASNOST_MAIL_FROM") or "glasnost@localhost")
        return (str(host) if host else None), port, sender

    def waiting(self) -> int:
        with self.p.db.read() as s:
            return int(s.scalar(select(func.count(OutboxMail.id)).where(OutboxMail.sent_at.is_(None))) or 0)

    def deliver(self, batch: int = 200) -> int:
        """Send waiting mails; how many were sent. A mail that fails is tried again at the next run,
        five times at most. PostgreSQL: the rows are claimed (locked, others skipped) so that any
        number of workers send each mail once. SQLite (one process, one scheduler thread): the rows
        are read, sent, then marked, so that a slow mail server never holds the database's write lock."""
        host, port, sender = self.smtp()
        if host is None:
            return 0
        q = (
            select(OutboxMail)
            .where(OutboxMail.sent_at.is_(None), OutboxMail.attempts < 5)
            .order_by(OutboxMail.id)
            .limit(batch)
        )
        if self.p.settings.is_sqlite:
            with self.p.db.read() as s:
                mails = [_Mail(r.id, r.kind, r.address, r.subject, r.body) for r in s.scalars(q)]
            outcome = _send_all(host, port, sender, mails)
            with self.p.db.write() as s:
                return _mark(s, outcome)
        with self.p.db.write() as s:
            mails = [
                _Mail(r.id, r.kind, r.address, r.subject, r.body)
                for r in s.scalars(q.with_for_update(skip_locked=True))
            ]
            return _mark(s, _send_all(host, port, sender, mails))

    # ---- events found by the scheduled work ------------------------------------------------------------

    def announce_rounds(self) -> int:
        """Announce rounds opened, closing within the hour, and closed, and votes decided, once each
        (read first: the write, and SQLite's write lock, only when there is news)."""
        now = utcnow()
        with self.p.db.read() as s:
            news = self._round_news(s, now)
            if news:
                known = set(s.scalars(select(FeedEntry.key).where(FeedEntry.key.in_([n[0] for n in news]))))
                news = [n for n in news if n[0] not in known]
        if not news:
            return 0
        with self.p.db.write() as s:
            if not self.p.settings.is_sqlite:
                # every process's scheduled work finds the same news at once: one announces it while
                # the others wait here, then find its keys taken
                lock = f"glasnost-announce:{self.p.settings.schema or ''}"
                s.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": lock})
                known = set(s.scalars(select(FeedEntry.key).where(FeedEntry.key.in_([n[0] for n in news]))))
                news = [n for n in news if n[0] not in known]
            for key, kind, title, cycle_id, params, link in news:
                notify(s, kind, title, cycle_id=cycle_id, params=params, link=link, key=key)
        if news:
            self.p.jobs.mail_waiting()
        return len(news)

    @staticmethod
    def _round_news(s: Session, now: Any) -> list[tuple[str, str, str, int, dict[str, Any], str]]:
        news = []
        recent = now - timedelta(hours=1)
        for r in s.scalars(select(m.Round).where((m.Round.status == "open") | (m.Round.closed_at > recent))):
            n = {"round": r.number}
            link = f"/cycles/{r.cycle_id}/rounds/{r.number}"
            news.append(
                (f"round-opened:{r.cycle_id}:{r.number}", "rounds", N_("Round {round} is open"), r.cycle_id, n, link)
            )
            if r.status == "open" and r.deadline is not None and r.deadline - now <= CLOSING_SOON:
                news.append(
                    (
                        f"round-closing:{r.cycle_id}:{r.number}",
                        "rounds",
                        N_("Round {round} closes soon"),
                        r.cycle_id,
                        n,
                        link,
                    )
                )
            if r.status == "closed":
                news.append(
                    (
                        f"round-result:{r.cycle_id}:{r.number}",
                        "results",
                        N_("Round {round} has closed"),
                        r.cycle_id,
                        n,
                        link,
                    )
                )
        for v in s.scalars(select(m.Vote).where(m.Vote.status == "closed", m.Vote.closed_at > recent)):
            news.append(
                (
                    f"vote-result:{v.cycle_id}",
                    "results",
                    N_("The vote has chosen the plan variant {variant}"),
                    v.cycle_id,
                    {"variant": (v.tally or {}).get("winner", "")},
                    f"/cycles/{v.cycle_id}/vote",
                )
            )
        return news


class _Mail(NamedTuple):
    id: int
    kind: str
    address: str
    subject: str
    body: str


def _send_all(host: str, port: int, sender: str, mails: list[_Mail]) -> dict[int, str | None]:
    """Send over one SMTP connection; per mail, None (sent) or what went wrong."""
    if not mails:
        return {}
    outcome: dict[int, str | None] = {}
    try:
        with smtplib.SMTP(host, port, timeout=30) as smtp:
            for mail in mails:
                msg = EmailMessage()
                msg["From"], msg["To"], msg["Subject"] = sender, mail.address, mail.subject
                msg["X-Glasnost-Kind"] = mail.kind
                msg.set_content(mail.body or mail.subject)
                try:
                    smtp.send_message(msg)
                    outcome[mail.id] = None
                except smtplib.SMTPRecipientsRefused as exc:
                    outcome[mail.id] = str(exc)
    except (OSError, smtplib.SMTPException) as exc:
        for mail in mails:
            outcome.setdefault(mail.id, str(exc))
    return outcome


def _mark(s: Session, outcome: dict[int, str | None]) -> int:
    now = utcnow()
    for mail_id, error in outcome.items():
        row = s.get(OutboxMail, mail_id)
        if row is None:
            continue
        row.attempts += 1
        if error is None:
            row.sent_at = now
        else:
            row.error = error[:300]
    return sum(1 for error in outcome.values() if error is None)
