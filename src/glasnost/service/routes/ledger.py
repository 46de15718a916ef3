"""The public log over HTTP: entries, checkpoints, inclusion and consistency proofs, the export.

Everything here is public. ``glasnost verify URL`` (the client side lives in
:mod:`glasnost.control`) reads these endpoints:

- ``GET /api/log``: size, root hash, public key (hex), key id, the latest checkpoint;
- ``GET /api/log/checkpoint``: the latest signed checkpoint (a new one is signed when entries
  came since, at most once a second); ``GET /api/log/checkpoints``: all of them;
- ``GET /api/log/entries?start=&stop=`` (at most 1000): each entry's index, kind, payload, its
  stored bytes (``entry_base64``, exactly the bytes hashed; ``entry``, the same as text when they
  are UTF-8) and leaf hash. Rows are served as stored, unparsed: a tampered row that is no longer
  canonical JSON is served too (``payload`` null, ``problem`` saying why), so ``glasnost verify URL``
  names it instead of the server failing;
- ``GET /api/log/entries/{index}``;
- ``GET /api/log/proof/inclusion?index=&size=``: RFC 9162 audit path (size: a checkpoint's tree size,
  default the latest checkpoint);
- ``GET /api/log/proof/consistency?first=&second=``: RFC 9162 consistency path;
- ``GET /api/log/export``: the whole log in the JSON-lines export format
  (:meth:`glasnost.ledger.Ledger.export`), which ``glasnost verify`` checks.
"""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask

from glasnost.ledger import Ledger, LedgerError, key_id, parse_canonical
from glasnost.service.errors import BadInputError, NotFoundError
from glasnost.service.routes.deps import platform_of, render

router = APIRouter()

MAX_INDEX = 2**53
"""Indices and sizes above this are refused with 422 (no log gets near; databases overflow at 2^63)."""


def _entry_json(row: tuple[int, str, bytes, bytes]) -> dict[str, Any]:
    """One stored row as JSON: its bytes as stored (base64, and as text when UTF-8), the recorded leaf
    hash, and the payload when the bytes still parse as canonical JSON (else ``problem``)."""
    index, kind, data, stored_hash = row
    out: dict[str, Any] = {
        "index": index,
        "kind": kind,
        "payload": None,
        "entry": None,
        "entry_base64": base64.b64encode(data).decode("ascii"),
        "leaf_hash": stored_hash.hex(),
        "refers_to": None,
    }
    try:
        out["entry"] = data.decode("utf-8")
        obj = parse_canonical(data, where=f"entry {index}")
        out["payload"] = obj["payload"]
        refers = obj.get("refers_to")
        out["refers_to"] = None if refers is None else int(refers["index"])
    except (UnicodeDecodeError, LedgerError, KeyError, TypeError, ValueError) as exc:
        out["problem"] = f"the stored bytes are not a canonical log entry ({exc})"
    return out


def _stored_rows(ledger: Ledger, start: int, stop: int) -> list[tuple[int, str, bytes, bytes]]:
    """Rows ``start <= index < stop`` exactly as stored, unchecked (as :meth:`Ledger.export` copies them)."""
    ledger.size  # noqa: B018 (catch up with entries appended elsewhere)
    return ledger._store.rows(start, stop)


def _log_info(request: Request) -> dict[str, Any]:
    books = platform_of(request).books
    cp = books.checkpoint()

    def info(ledger: Ledger) -> dict[str, Any]:
        size = ledger.size
        return {"size": size, "root_hash": ledger.root(size).hex()}

    out = books.call(info)
    out.update(public_key=books.public_key, key_id=key_id(books.key), checkpoint=None if cp is None else cp.to_json())
    return out


@router.get("/api/log", tags=["log"])
def api_log(request: Request) -> dict[str, Any]:
    """Size, root hash, public key and the latest signed checkpoint of the public log."""
    return _log_info(request)


@router.get("/api/log/checkpoint", tags=["log"])
def api_checkpoint(request: Request) -> dict[str, Any]:
    cp = platform_of(request).books.checkpoint()
    if cp is None:
        raise NotFoundError("the log is empty; there is no checkpoint yet")
    return cp.to_json()


@router.get("/api/log/checkpoints", tags=["log"])
def api_checkpoints(request: Request) -> list[dict[str, Any]]:
    return [cp.to_json() for cp in platform_of(request).books.call(lambda lg: lg.checkpoints())]


@router.get("/api/log/entries", tags=["log"])
def api_entries(
    request: Request,
    start: int = Query(0, ge=0, le=MAX_INDEX),
    stop: int | None = Query(None, ge=0, le=MAX_INDEX),
) -> dict[str, Any]:
    """Entries ``start <= index < stop`` (at most 1000 at a time)."""

    def read(ledger: Ledger) -> dict[str, Any]:
        size = ledger.size
        end = min(size, start + 1000 if stop is None else min(stop, start + 1000))
        return {
            "size": size,
            "start": start,
            "entries": [_entry_json(row) for row in _stored_rows(ledger, start, max(start, end))],
        }

    return platform_of(request).books.call(read)


@router.get("/api/log/entries/{index}", tags=["log"])
def api_entry(request: Request, index: int = PathParam(ge=0, le=MAX_INDEX)) -> dict[str, Any]:
    def read(ledger: Ledger) -> dict[str, Any]:
        rows = _stored_rows(ledger, index, index + 1) if index >= 0 else []
        if not rows:
            raise NotFoundError(f"no such entry (the log has {ledger.size})", where=f"entry {index}")
        return _entry_json(rows[0])

    return platform_of(request).books.call(read)


@router.get("/api/log/proof/inclusion", tags=["log"])
def api_inclusion(
    request: Request, index: int = Query(ge=0, le=MAX_INDEX), size: int | None = Query(None, ge=1, le=MAX_INDEX)
) -> dict[str, Any]:
    """An RFC 9162 inclusion proof of entry ``index`` in the tree of ``size`` entries (default: the
    latest checkpoint, which is included)."""
    books = platform_of(request).books
    if size is None:
        books.checkpoint(cover=index)

    def prove(ledger: Ledger) -> dict[str, Any]:
        if index >= ledger.size:
            raise NotFoundError(f"no such entry (the log has {ledger.size})", where=f"entry {index}")
        try:
            return ledger.inclusion_proof(index, size).to_json()
        except LedgerError as exc:
            raise BadInputError(str(exc)) from None

    return books.call(prove)


@router.get("/api/log/proof/consistency", tags=["log"])
def api_consistency(
    request: Request, first: int = Query(ge=0, le=MAX_INDEX), second: int | None = Query(None, ge=0, le=MAX_INDEX)
) -> dict[str, Any]:
    """An RFC 9162 consistency proof that the tree of ``first`` entries is a prefix of that of ``second``."""

    def prove(ledger: Ledger) -> dict[str, Any]:
        end = ledger.size if second is None else second
        if not 0 <= first <= end <= ledger.size:
            raise BadInputError(f"need 0 <= first <= second <= {ledger.size}, got {first} and {end}")
        return {"first": first, "second": end, "path": [h.hex() for h in ledger.consistency_proof(first, end)]}

    return platform_of(request).books.call(prove)


@router.get("/api/log/export", tags=["log"])
def api_export(request: Request) -> Response:
    """The whole log as JSON lines (what ``glasnost verify`` reads)."""
    books = platform_of(request).books
    books.checkpoint()
    tmp = Path(tempfile.mkdtemp(prefix="glasnost-export-")) / "log.jsonl"
    books.call(lambda lg: lg.export(tmp))

    def cleanup() -> None:
        tmp.unlink(missing_ok=True)
        tmp.parent.rmdir()

    return FileResponse(
        tmp, media_type="application/x-ndjson", filename="glasnost-log.jsonl", background=BackgroundTask(cleanup)
    )


@router.get("/api/log/key", tags=["log"])
def api_key(request: Request) -> dict[str, str]:
    books = platform_of(request).books
    return {"public_key": books.public_key, "key_id": key_id(books.key)}


@router.get("/log", include_in_schema=False)
def log_page(request: Request, start: int = Query(-1, ge=-1, le=MAX_INDEX)) -> Response:
    books = platform_of(request).books
    info = _log_info(request)
    begin = max(0, info["size"] - 50) if start < 0 else start
    entries = books.call(lambda lg: [_entry_json(r) for r in _stored_rows(lg, begin, min(lg.size, begin + 50))])
    return render(request, "log.html", info=info, entries=entries, begin=begin)
