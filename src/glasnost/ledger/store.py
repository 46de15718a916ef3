"""Where the log lives: a SQLite file (WAL mode) or a PostgreSQL database.

Three tables, named with the prefix ``ledger_``:

* ``ledger_head``: one row, the number of entries (``size``) and the storage format version;
* ``ledger_entries``: ``idx`` (0, 1, ...), ``kind``, ``entry`` (the canonical JSON bytes that are
  hashed), ``leaf_hash`` (``SHA-256(0x00 || entry)``);
* ``ledger_checkpoints``: ``seq``, ``tree_size``, ``root_hash``, ``time``, ``key_id``, ``signature``,
  and ``note``: the checkpoint as a C2SP signed note (the text and the log's signature), which is
  what counts; the other columns repeat it for queries. ``note`` is NULL for checkpoints of the old
  form (storage format 1);
* ``ledger_cosignatures``: ``seq`` (the checkpoint), ``line`` (a witness's cosignature line).

Storage format 2 added ``note`` and ``ledger_cosignatures``; a format-1 log is migrated when it is
opened for writing (its old checkpoints keep their form and are still checked), and read as it is
when it is only verified.

Triggers refuse ``UPDATE`` and ``DELETE`` on entries, checkpoints and cosignatures, so a mistake cannot rewrite
history; someone with the database's owner rights can still drop them, which is what
``glasnost verify`` is for. Appending takes the head row's lock (``BEGIN IMMEDIATE`` in SQLite,
``SELECT ... FOR UPDATE`` in PostgreSQL) and writes the entries and the new size in one transaction.
In PostgreSQL, entries that refer to no earlier one are appended by the function ``ledger_append``
in one statement, so the lock every process waits for is held only inside the server.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from glasnost.ledger.errors import LedgerError

__all__ = ["FORMAT_VERSION", "PG_APPEND_CALL", "Store", "is_database_url", "open_store"]

FORMAT_VERSION = 2

Row = tuple[int, str, bytes, bytes]
CheckpointRow = tuple[int, int, bytes, str, str, bytes, str | None]
_GUARDED = ("ledger_entries", "ledger_checkpoints", "ledger_cosignatures")

PG_APPEND_CALL = "ledger_append(%b::text[], %b::bytea[], %b::bytea[])"
"""PostgreSQL: the call that appends entries (kinds, canonical bytes, leaf hashes; none referring to
another) and gives the first one's index. For a writer whose rows live in the log's database and
schema: called inside its own transaction, its rows and their entries commit together (the head's
lock is then held until that commit). Exists once a :class:`PostgresStore` was created there."""


def is_database_url(source: str | Path) -> bool:
    """True for a ``postgresql://`` (or ``postgres://``) URL."""
    return isinstance(source, str) and source.startswith(("postgresql://", "postgres://"))


class Store:
    """One open log database. Use :func:`open_store`."""

    placeholder = "?"
    blob = "BLOB"
    where: str
    appends_in_one_statement = False
    """True where :meth:`append_entries` exists (PostgreSQL, once :meth:`create` has run)."""

    def __init__(self, conn: Any, where: str) -> None:
        self.conn = conn
        self.where = where

    # -- to be provided per backend
    @contextmanager
    def transaction(self) -> Iterator[Any]:  # pragma: no cover - abstract
        raise NotImplementedError
        yield

    def _create_triggers(self, cur: Any, tables: tuple[str, ...]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _lock_head(self, cur: Any) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- shared SQL
    def _q(self, sql: str) -> str:
        return sql.replace("?", self.placeholder)

    def create(self) -> None:
        """Create the tables if they do not exist (idempotent)."""
        with self.transaction() as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS ledger_head (id INTEGER PRIMARY KEY CHECK (id = 0), "
                "size BIGINT NOT NULL, format INTEGER NOT NULL)"
            )
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS ledger_entries (idx BIGINT PRIMARY KEY, kind TEXT NOT NULL, "
                f"entry {self.blob} NOT NULL, leaf_hash {self.blob} NOT NULL)"
            )
            cur.execute("SELECT format FROM ledger_head WHERE id = 0")
            row = cur.fetchone()
            if row is None:
                cur.execute(
                    "CREATE TABLE IF NOT EXISTS ledger_checkpoints (seq BIGINT PRIMARY KEY, "
                    f"tree_size BIGINT NOT NULL, root_hash {self.blob} NOT NULL, time TEXT NOT NULL, "
                    f"key_id TEXT NOT NULL, signature {self.blob} NOT NULL, note TEXT)"
                )
                self._create_cosignatures(cur)
                cur.execute(self._q("INSERT INTO ledger_head (id, size, format) VALUES (0, 0, ?)"), (FORMAT_VERSION,))
                self._create_triggers(cur, _GUARDED)
            elif row[0] == 1:  # storage format 1: checkpoints had no note, and there were no cosignatures
                cur.execute("ALTER TABLE ledger_checkpoints ADD COLUMN note TEXT")
                self._create_cosignatures(cur)
                self._create_triggers(cur, ("ledger_cosignatures",))
                cur.execute(self._q("UPDATE ledger_head SET format = ? WHERE id = 0"), (FORMAT_VERSION,))
            elif row[0] != FORMAT_VERSION:
                raise LedgerError(f"log storage format {row[0]} is newer than this glasnost ({FORMAT_VERSION}): "
                                  "upgrade glasnost", where=self.where)

    def _create_cosignatures(self, cur: Any) -> None:
        cur.execute(
            "CREATE TABLE IF NOT EXISTS ledger_cosignatures (seq BIGINT NOT NULL, line TEXT NOT NULL, "
            "PRIMARY KEY (seq, line))"
        )

    def format(self) -> int:
        """The storage format version the head row records."""
        with self.transaction() as cur:
            cur.execute("SELECT format FROM ledger_head WHERE id = 0")
            row = cur.fetchone()
        return int(row[0]) if row is not None else FORMAT_VERSION

    def has_log(self) -> bool:
        """True when the log's tables exist here."""
        raise NotImplementedError  # pragma: no cover

    def size(self) -> int:
        """The number of entries the head row records."""
        with self.transaction() as cur:
            cur.execute("SELECT size FROM ledger_head WHERE id = 0")
            row = cur.fetchone()
        if row is None:
            raise LedgerError("the log has no head row (ledger_head is empty)", where=self.where)
        return int(row[0])

    def append(self, rows_for: Any) -> Any:
        """Append in one transaction: ``rows_for(size, cur)`` returns the rows to insert and a result.

        ``rows_for`` runs after the head row is locked, so it sees the true size and may read rows.
        """
        with self.transaction() as cur:
            size = self._lock_head(cur)
            rows, result = rows_for(size, cur)
            if rows:
                cur.executemany(
                    self._q("INSERT INTO ledger_entries (idx, kind, entry, leaf_hash) VALUES (?, ?, ?, ?)"), rows
                )
                cur.execute(self._q("UPDATE ledger_head SET size = ? WHERE id = 0"), (size + len(rows),))
        return result

    def add_checkpoint(self, make: Any) -> Any:
        """Store a checkpoint in one transaction: ``make(size)`` returns its row fields and a result."""
        with self.transaction() as cur:
            size = self._lock_head(cur)
            fields, result = make(size)
            cur.execute("SELECT COALESCE(MAX(seq) + 1, 0) FROM ledger_checkpoints")
            seq = int(cur.fetchone()[0])
            cur.execute(
                self._q(
                    "INSERT INTO ledger_checkpoints (seq, tree_size, root_hash, time, key_id, signature, note) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)"
                ),
                (seq, *fields),
            )
        return result

    def add_cosignatures(self, seq: int, lines: list[str]) -> None:
        """Store cosignature lines of checkpoint ``seq`` (a line already stored is kept once)."""
        with self.transaction() as cur:
            cur.execute(self._q("SELECT line FROM ledger_cosignatures WHERE seq = ?"), (seq,))
            have = {str(r[0]) for r in cur.fetchall()}
            new = [(seq, ln) for ln in dict.fromkeys(lines) if ln not in have]
            if new:
                cur.executemany(self._q("INSERT INTO ledger_cosignatures (seq, line) VALUES (?, ?)"), new)

    def cosignatures(self) -> dict[int, list[str]]:
        """Every stored cosignature line, by checkpoint ``seq`` (none in a format-1 log)."""
        if self.format() < 2:
            return {}
        with self.transaction() as cur:
            cur.execute("SELECT seq, line FROM ledger_cosignatures ORDER BY seq, line")
            out: dict[int, list[str]] = {}
            for seq, line in cur.fetchall():
                out.setdefault(int(seq), []).append(str(line))
        return out

    def rows(self, start: int = 0, stop: int | None = None, cur: Any = None) -> list[Row]:
        """Entry rows with ``start <= idx < stop``, by index (as stored, unchecked)."""
        sql = "SELECT idx, kind, entry, leaf_hash FROM ledger_entries WHERE idx >= ?"
        params: list[int] = [start]
        if stop is not None:
            sql += " AND idx < ?"
            params.append(stop)
        sql += " ORDER BY idx"
        if cur is not None:
            cur.execute(self._q(sql), params)
            fetched = cur.fetchall()
        else:
            with self.transaction() as c:
                c.execute(self._q(sql), params)
                fetched = c.fetchall()
        return [(int(i), str(k), bytes(e), bytes(h)) for i, k, e, h in fetched]

    def leaf_hashes(self, start: int, stop: int, cur: Any = None) -> list[tuple[int, bytes]]:
        """``(idx, leaf_hash)`` for ``start <= idx < stop`` (within ``cur``'s transaction if given)."""
        sql = self._q("SELECT idx, leaf_hash FROM ledger_entries WHERE idx >= ? AND idx < ? ORDER BY idx")
        if cur is not None:
            cur.execute(sql, (start, stop))
            return [(int(i), bytes(h)) for i, h in cur.fetchall()]
        with self.transaction() as c:
            c.execute(sql, (start, stop))
            return [(int(i), bytes(h)) for i, h in c.fetchall()]

    def checkpoints(self) -> list[CheckpointRow]:
        """Checkpoint rows by ``seq``: ``(seq, tree_size, root_hash, time, key_id, signature, note)``."""
        note = "note" if self.format() >= 2 else "NULL"
        with self.transaction() as cur:
            cur.execute(
                f"SELECT seq, tree_size, root_hash, time, key_id, signature, {note} "
                "FROM ledger_checkpoints ORDER BY seq"
            )
            return [
                (int(s), int(n), bytes(r), str(t), str(k), bytes(g), None if m is None else str(m))
                for s, n, r, t, k, g, m in cur.fetchall()
            ]

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


class SQLiteStore(Store):
    """A log in a SQLite file, in WAL mode."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        try:
            if read_only:
                conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
            else:
                conn = sqlite3.connect(path, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=10000")
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot open the SQLite log ({exc})", where=str(path)) from None
        super().__init__(conn, str(path))

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Cursor]:
        cur = self.conn.cursor()
        try:
            try:
                cur.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:
                cur.execute("BEGIN")  # a read-only connection cannot take the write lock
            try:
                yield cur
            except BaseException:
                self.conn.rollback()
                raise
            self.conn.commit()
        except sqlite3.Error as exc:
            raise LedgerError(f"SQLite: {exc}", where=self.where) from exc
        finally:
            cur.close()

    def _create_triggers(self, cur: sqlite3.Cursor, tables: tuple[str, ...]) -> None:
        for table in tables:
            for op in ("UPDATE", "DELETE"):
                cur.execute(
                    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'the log is append-only: {op} on {table} refused'); END"
                )

    def _lock_head(self, cur: sqlite3.Cursor) -> int:
        cur.execute("SELECT size FROM ledger_head WHERE id = 0")
        row = cur.fetchone()
        if row is None:
            raise LedgerError("the log has no head row", where=self.where)
        return int(row[0])

    def has_log(self) -> bool:
        cur = self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'ledger_head'")
        return cur.fetchone() is not None


class PostgresStore(Store):
    """A log in a PostgreSQL database (optionally in its own schema)."""

    placeholder = "%s"
    blob = "BYTEA"

    def __init__(self, url: str, *, schema: str | None = None, create_schema: bool = True) -> None:
        try:
            import psycopg
            from psycopg import sql
        except ImportError:
            raise LedgerError("PostgreSQL logs need psycopg: pip install 'psycopg[binary]'", where=url) from None
        where = url if schema is None else f"{url} (schema {schema})"
        try:
            conn = psycopg.connect(url, autocommit=True)
            if schema is not None:
                if create_schema:
                    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
                conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        except psycopg.Error as exc:
            raise LedgerError(f"cannot open the PostgreSQL log ({exc})", where=where) from None
        self.schema = schema
        super().__init__(conn, where)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        import psycopg

        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                yield cur
        except psycopg.Error as exc:
            raise LedgerError(f"PostgreSQL: {exc}", where=self.where) from exc

    def _create_triggers(self, cur: Any, tables: tuple[str, ...]) -> None:
        cur.execute(
            "CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'the log is append-only: % on % refused', TG_OP, TG_TABLE_NAME; END $$"
        )
        for table in tables:
            cur.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()"
            )

    _APPEND = (
        "WITH added AS (INSERT INTO ledger_entries (idx, kind, entry, leaf_hash) "
        "SELECT * FROM unnest(%b::bigint[], %b::text[], %b::bytea[], %b::bytea[]) RETURNING 1) "
        "UPDATE ledger_head SET size = %s WHERE id = 0"
    )

    def append(self, rows_for: Any) -> Any:
        """:meth:`Store.append` with the rows and the new size in one statement (the rows as arrays).
        Other processes wait for the head row while it is held, so every round trip saved under it
        is saved for all of them. (Psycopg's pipeline mode, tried to join the lock to the
        transaction's start, made a batch slower here.)"""
        import psycopg

        try:
            with self.transaction() as cur:
                size = self._lock_head(cur)
                rows, result = rows_for(size, cur)
                if rows:
                    columns = [list(column) for column in zip(*rows, strict=True)]
                    cur.execute(self._APPEND, (*columns, size + len(rows)))
        except psycopg.Error as exc:
            raise LedgerError(f"PostgreSQL: {exc}", where=self.where) from exc
        return result

    _APPEND_FUNCTION = (
        "CREATE OR REPLACE FUNCTION ledger_append(kinds text[], entries bytea[], hashes bytea[]) "
        "RETURNS bigint LANGUAGE plpgsql AS $$ DECLARE start bigint; BEGIN "
        "SELECT size INTO start FROM ledger_head WHERE id = 0 FOR UPDATE; "
        "IF start IS NULL THEN RAISE EXCEPTION 'the log has no head row'; END IF; "
        "INSERT INTO ledger_entries (idx, kind, entry, leaf_hash) SELECT start + n - 1, k, e, h "
        "FROM unnest(kinds, entries, hashes) WITH ORDINALITY AS t(k, e, h, n); "
        "UPDATE ledger_head SET size = start + cardinality(kinds) WHERE id = 0; "
        "RETURN start; END $$"
    )

    def create(self) -> None:
        """:meth:`Store.create`, and the ``ledger_append`` function; processes that start together take
        turns (an advisory lock per schema), since two concurrent creations of one function conflict."""
        import psycopg

        try:
            with self.transaction() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(hashtext('glasnost-ledger:' || current_schema()))")
                super().create()
                cur.execute("SELECT to_regprocedure('ledger_append(text[],bytea[],bytea[])') IS NULL")
                if cur.fetchone()[0]:
                    cur.execute(self._APPEND_FUNCTION)
        except psycopg.Error as exc:
            raise LedgerError(f"PostgreSQL: {exc}", where=self.where) from exc
        self.appends_in_one_statement = True

    def append_entries(self, kinds: list[str], entries: list[bytes], hashes: list[bytes]) -> int:
        """Append entries that do not depend on their index, in one statement (one round trip, its
        own transaction): the head row is locked, the rows inserted and the size moved on inside the
        server, so that the lock every process waits for is never held across the network or while
        this process is descheduled. Returns the first new entry's index."""
        import psycopg

        try:
            with self.conn.cursor() as cur:
                cur.execute(f"SELECT {PG_APPEND_CALL}", (kinds, entries, hashes))
                return int(cur.fetchone()[0])
        except psycopg.Error as exc:
            raise LedgerError(f"PostgreSQL: {exc}", where=self.where) from exc

    def _lock_head(self, cur: Any) -> int:
        cur.execute("SELECT size FROM ledger_head WHERE id = 0 FOR UPDATE")
        row = cur.fetchone()
        if row is None:
            raise LedgerError("the log has no head row", where=self.where)
        return int(row[0])

    def has_log(self) -> bool:
        with self.transaction() as cur:
            cur.execute("SELECT to_regclass('ledger_head') IS NOT NULL")
            return bool(cur.fetchone()[0])


def open_store(source: str | Path, *, schema: str | None = None, create: bool = True, read_only: bool = False) -> Store:
    """Open (and with ``create``, set up) the log at a SQLite path or a PostgreSQL URL.

    Parameters
    ----------
    source
        A file path (SQLite) or ``postgresql://user@host:port/database``.
    schema
        PostgreSQL only: the schema holding the tables (created if missing when ``create``).
    create
        Create the tables when they are missing; otherwise a missing log is an error.
    read_only
        SQLite only: open the file read-only (for verification).
    """
    if is_database_url(source):
        store: Store = PostgresStore(str(source), schema=schema, create_schema=create)
    else:
        if schema is not None:
            raise LedgerError("a schema applies to PostgreSQL logs only", where=str(source))
        path = Path(source)
        if not create and not path.exists():
            raise FileNotFoundError(f"no such log file: {path}")
        store = SQLiteStore(path, read_only=read_only and not create)
    try:
        if create:
            store.create()
        elif not store.has_log():
            raise LedgerError("no glasnost log here (no ledger_head table)", where=store.where)
    except BaseException:
        store.close()
        raise
    return store
