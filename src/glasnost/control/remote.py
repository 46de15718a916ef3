"""``glasnost verify URL``: check a running platform's public log through its public endpoints.

Reads ``GET /api/log`` (size, public key), ``/api/log/checkpoints`` and every entry from
``/api/log/entries`` (1000 at a time: each entry's exact bytes and its leaf hash), then checks them
exactly as a downloaded log is checked (:func:`glasnost.ledger.verify.check_log`): every entry
against its leaf hash, every checkpoint's root and signature, consistency between checkpoints,
receipts. It also asks the server for its own proofs and checks them against its signed checkpoints:
a consistency proof between each pair of consecutive checkpoints (``/api/log/proof/consistency``)
and an inclusion proof for each receipt (``/api/log/proof/inclusion``). Needs no account, and trusts
nothing the server says without checking it. If the server cannot serve some entry (its stored bytes
no longer parse), the whole log is read from ``/api/log/export`` instead, which copies the rows as
stored. Without ``--key`` the server's own public key is used and the report is ``unauthenticated``
(exit code 3): a server that forged its log would announce the forger's key.
"""

from __future__ import annotations

import base64
import binascii
import json
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from glasnost.ledger import Checkpoint, LedgerError, load_public_key, verify_consistency, verify_inclusion
from glasnost.ledger.verify import LogContents, Problem, StoredEntry, VerifyReport, check_log, read_export

__all__ = ["fetch_log", "is_url", "verify_remote"]

PAGE = 1000


def is_url(source: object) -> bool:
    """True for an ``http://`` or ``https://`` address."""
    return isinstance(source, str) and source.startswith(("http://", "https://"))


def _get(base: str, path: str, params: dict[str, Any] | None = None, *, timeout: float = 30.0) -> Any:
    url = base.rstrip("/") + path + ("?" + urllib.parse.urlencode(params) if params else "")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        body = exc.read().decode("utf-8", "replace")[:200]
        raise LedgerError(f"the server answered {exc.code} ({body})", where=url) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise LedgerError(f"cannot reach the server ({exc})", where=url) from None
    except ValueError as exc:
        raise LedgerError(f"the server's answer is not JSON ({exc})", where=url) from None


def fetch_log(base: str, *, timeout: float = 30.0) -> tuple[LogContents, dict[str, Any]]:
    """Everything the server publishes about its log, unchecked, and its ``/api/log`` summary."""
    info = _get(base, "/api/log", timeout=timeout)
    log = LogContents(base.rstrip("/"))
    size = info.get("size")
    log.size = size if isinstance(size, int) and size >= 0 else None
    if log.size is None:
        raise LedgerError(f"the server gives no log size ({size!r})", where=f"{base}/api/log")
    for n, obj in enumerate(_get(base, "/api/log/checkpoints", timeout=timeout)):
        try:
            log.checkpoints.append((f"checkpoint {n}", Checkpoint.from_json(obj, where=f"checkpoint {n}")))
        except LedgerError as exc:
            log.problems.append(Problem(f"checkpoint {n}", str(exc)))
    # another process of the platform may have signed a larger tree meanwhile: read what it covers
    log.size = max([log.size, *(cp.tree_size for _, cp in log.checkpoints)])
    try:
        _fetch_entries(base, log, timeout)
    except LedgerError as exc:  # the server cannot serve some entry (e.g. bytes that no longer parse)
        log.rows.clear()
        info["_note"] = f"the server could not serve every entry ({exc}); its export was checked instead"
        exported = _fetch_export(base, timeout)
        log.rows = exported.rows
        log.problems.extend(exported.problems)
    return log, info


def _fetch_export(base: str, timeout: float) -> LogContents:
    """The server's ``/api/log/export`` (rows copied as stored, unchecked), read as a downloaded log."""
    url = base.rstrip("/") + "/api/log/export"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.jsonl"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(path, "wb") as fh:
                shutil.copyfileobj(response, fh)
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise LedgerError(f"cannot download the export ({exc})", where=url) from None
        return read_export(path)


def _fetch_entries(base: str, log: LogContents, timeout: float) -> None:
    assert log.size is not None
    start = 0
    while start < log.size:
        page = _get(base, "/api/log/entries", {"start": start, "stop": min(log.size, start + PAGE)}, timeout=timeout)
        entries = page.get("entries", [])
        for e in entries:
            try:
                index = int(e["index"])
                raw = e.get("entry_base64")  # the stored bytes exactly (servers since the raw-row change)
                data = base64.b64decode(raw, validate=True) if raw is not None else e["entry"].encode("utf-8")
                stored = bytes.fromhex(e["leaf_hash"])
            except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as exc:
                log.problems.append(Problem(f"entry near {start}", f"malformed entry from the server ({exc})"))
                continue
            log.rows.append(StoredEntry(index, e.get("kind"), data, stored, f"{base} entry {index}"))
        if not entries:
            break  # the rest is missing: check_log names each missing entry
        start = max(int(e.get("index", start)) for e in entries) + 1


def _check_server_proofs(
    base: str, report: VerifyReport, log: LogContents, receipts: list[str] | tuple[str, ...], timeout: float
) -> None:
    """The server's consistency proofs between consecutive checkpoints, and its inclusion proofs for receipts."""
    cps = [cp for _, cp in log.checkpoints]
    for (la, a), (lb, b) in zip(log.checkpoints, log.checkpoints[1:], strict=False):
        if a.tree_size > b.tree_size:
            continue  # check_log reports a shrinking log
        proof = _get(base, "/api/log/proof/consistency", {"first": a.tree_size, "second": b.tree_size},
                     timeout=timeout)
        path = [bytes.fromhex(h) for h in proof.get("path", [])]
        if not verify_consistency(a.tree_size, b.tree_size, path, a.root_hash, b.root_hash):
            report.problems.append(Problem(f"{lb} (size {b.tree_size})",
                                           f"the server's consistency proof from {la} does not verify"))
    if not cps:
        return
    latest = max(cps, key=lambda c: c.tree_size)
    by_hash = {r.leaf_hash.hex(): r.index for r in log.rows if r.leaf_hash is not None}
    for spec in receipts:
        leaf = spec.strip().lower()
        if len(leaf) != 64 or leaf not in by_hash:
            continue  # receipt files and unknown hashes: check_log has judged them
        index = by_hash[leaf]
        if index >= latest.tree_size:
            continue
        proof = _get(base, "/api/log/proof/inclusion", {"index": index, "size": latest.tree_size}, timeout=timeout)
        path = [bytes.fromhex(h) for h in proof.get("path", [])]
        if not verify_inclusion(bytes.fromhex(leaf), index, latest.tree_size, path, latest.root_hash):
            report.problems.append(Problem(f"receipt {leaf[:16]}...",
                                           f"the server's inclusion proof of entry {index} does not verify", index))


def verify_remote(
    base: str,
    *,
    public_key: Any = None,
    receipts: list[str] | tuple[str, ...] = (),
    checkpoints: list[Any] | tuple[Any, ...] = (),
    timeout: float = 30.0,
    witnesses: list[Any] | tuple[Any, ...] = (),
    quorum: int | None = None,
) -> VerifyReport:
    """Check a running server's public log (see the module); one :class:`Problem` per fault.

    Parameters
    ----------
    base
        The server's address, e.g. ``http://127.0.0.1:8000``.
    public_key
        The log's public key (hex, file, bytes or key) or a list of them; default: the key the server
        announces, which checks the signatures but authenticates nothing (the report says
        ``unauthenticated``).
    receipts, checkpoints
        As for :func:`glasnost.ledger.verify_log`.
    """
    log, info = fetch_log(base, timeout=timeout)
    notes: list[str] = [info.pop("_note")] if "_note" in info else []
    announced_only = public_key is None
    if announced_only:
        announced = info.get("public_key")
        if not announced:
            raise LedgerError("the server announces no public key; give one with --key", where=f"{base}/api/log")
        keys = [load_public_key(announced)]
        notes.append(f"checkpoint signatures were checked against the key the server announces ({announced[:16]}...), "
                     "which a server showing a forged log would announce too; compare it with one published "
                     "elsewhere and pass it as --key")
    else:
        keys = [load_public_key(k) for k in (public_key if isinstance(public_key, list | tuple) else [public_key])]
    report = check_log(log, keys, receipts=receipts, checkpoints=checkpoints, witnesses=witnesses, quorum=quorum)
    report.authenticated = not announced_only
    report.notes.extend(notes)
    _check_server_proofs(base, report, log, receipts, timeout)
    return report
