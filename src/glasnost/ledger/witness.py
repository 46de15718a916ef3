"""Witnesses: cosign a log's checkpoint only if it extends the last one the witness cosigned.

A witness (a council, on its own machine) keeps, per log origin, the size and root hash of the
latest checkpoint it cosigned (a JSON file). Given a new checkpoint and an RFC 9162 consistency
proof from that size, it checks the log's signature, checks the proof, and only then cosigns
(C2SP ``tlog-cosignature``, Ed25519 ``cosignature/v1``) and records the new size. So a log that
shows two different trees of the same size to different people, or a tree that does not extend
one a witness saw (a split view, a fork), gets no cosignature from an honest witness that saw the
other, and a verifier that asks for cosignatures of a quorum of witnesses
(``glasnost verify --witness ... --quorum K``) refuses it.

Two ways to reach a witness:

* the C2SP ``tlog-witness`` protocol: :func:`serve` answers ``POST /add-checkpoint`` (request
  body: ``old <size>``, the proof lines in base64, a blank line, the checkpoint note; answers 200
  with cosignature lines, 403 bad log signature, 404 unknown log, 400 bad request, 409 with the
  witness's size as ``text/x.tlog.size``, 422 a proof that does not verify); a log asks its
  witnesses with :func:`request_cosignature`;
* pull: :func:`witness_platform` fetches the latest checkpoint and the consistency proof from a
  platform's public endpoints (``glasnost serve``), cosigns it and hands the cosignature back.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from glasnost.ledger.checkpoint import Checkpoint
from glasnost.ledger.errors import LedgerError
from glasnost.ledger.merkle import verify_consistency
from glasnost.ledger.note import COSIGNATURE, cosign, format_vkey

__all__ = ["Witness", "WitnessRefusal", "add_checkpoint_body", "request_cosignature", "serve", "witness_platform"]

MAX_PROOF = 63


class WitnessRefusal(LedgerError):  # noqa: N818 (a refusal, not a failure)
    """A witness will not cosign: ``status`` is the tlog-witness HTTP status, ``size`` (on 409) its size."""

    def __init__(self, status: int, message: str, *, size: int | None = None) -> None:
        self.status, self.size = status, size
        super().__init__(message)


@dataclass
class Witness:
    """One witness: its name and key, the logs it follows (origin -> log public key), its state file.

    Parameters
    ----------
    name
        The witness's key name in its cosignature lines (e.g. ``council-7.example/witness``).
    key
        Its Ed25519 signing key.
    logs
        The logs it witnesses: origin line -> the log's public key.
    state
        The JSON file holding, per origin, the latest cosigned size and root (created if missing).
    """

    name: str
    key: Ed25519PrivateKey
    logs: dict[str, Ed25519PublicKey]
    state: Path

    @property
    def vkey(self) -> str:
        """The witness's verifier key (what verifiers pass as ``--witness``)."""
        return format_vkey(self.name, COSIGNATURE, self.key.public_key())

    def latest(self, origin: str) -> tuple[int, bytes] | None:
        """The size and root of the latest checkpoint cosigned for ``origin``, or None."""
        entry = self._read().get(origin)
        return None if entry is None else (int(entry["size"]), base64.b64decode(entry["root"]))

    def _read(self) -> dict[str, Any]:
        if not self.state.exists() or self.state.stat().st_size == 0:
            return {}
        try:
            data = json.loads(self.state.read_text("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise LedgerError(f"the witness's state file is damaged ({exc})", where=str(self.state)) from None
        if not isinstance(data, dict):
            raise LedgerError("the witness's state file is not a JSON object", where=str(self.state))
        return data

    def _write(self, data: dict[str, Any]) -> None:
        tmp = self.state.with_name(self.state.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", "utf-8")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, self.state)

    def add_checkpoint(self, old_size: int, proof: list[bytes], note: str, *, now: int | None = None) -> str:
        """Check a checkpoint against the latest one cosigned for its log; cosign and record it.

        Returns
        -------
        str
            The cosignature line (with its newline).

        Raises
        ------
        WitnessRefusal
            With the tlog-witness status: 400 malformed, 403 the log's signature does not hold, 404
            unknown log, 409 ``old_size`` is not the witness's size (``size`` says which it is) or
            the same size with another root (a split view), 422 the proof does not verify.
        """
        try:
            cp = Checkpoint.from_note(note)
        except LedgerError as exc:
            raise WitnessRefusal(400, f"not a checkpoint ({exc})") from None
        log_key = self.logs.get(cp.origin or "")
        if log_key is None:
            raise WitnessRefusal(404, f"unknown log {cp.origin!r}")
        if not (cp.signed_by(log_key) and cp.verify_signature(log_key)):
            raise WitnessRefusal(403, f"the checkpoint of {cp.origin} is not signed by its key")
        if old_size > cp.tree_size:
            raise WitnessRefusal(400, f"old size {old_size} is above the checkpoint's size {cp.tree_size}")
        if len(proof) > MAX_PROOF:
            raise WitnessRefusal(400, f"a consistency proof has at most {MAX_PROOF} hashes")
        self.state.parent.mkdir(parents=True, exist_ok=True)
        with open(self.state.with_name(self.state.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # check and record in one step (two requests cannot interleave)
            data = self._read()
            seen = data.get(cp.origin)
            size = 0 if seen is None else int(seen["size"])
            if old_size != size:
                raise WitnessRefusal(409, f"this witness last cosigned size {size}, not {old_size}", size=size)
            if seen is not None:
                root = base64.b64decode(seen["root"])
                if size == cp.tree_size and root != cp.root_hash:
                    message = f"a different tree of size {size} was cosigned before: a split view"
                    raise WitnessRefusal(409, message, size=size)
                if size < cp.tree_size and not verify_consistency(size, cp.tree_size, proof, root, cp.root_hash):
                    raise WitnessRefusal(422, f"the checkpoint of size {cp.tree_size} does not extend the tree of size "
                                       f"{size} this witness cosigned (a fork)")
            elif proof:
                raise WitnessRefusal(400, "the proof must be empty when the old size is 0")
            line = cosign(cp.body(), self.name, self.key, int(time.time()) if now is None else now).line()
            data[cp.origin] = {"size": cp.tree_size, "root": base64.b64encode(cp.root_hash).decode("ascii"),
                               "note": cp.note(cosigned=False), "cosigned": line}
            self._write(data)
        return line


# ---- the tlog-witness HTTP protocol --------------------------------------------------------------


def add_checkpoint_body(old_size: int, proof: list[bytes], note: str) -> bytes:
    """The request body of ``POST /add-checkpoint``."""
    lines = [f"old {old_size}"] + [base64.b64encode(h).decode("ascii") for h in proof]
    return ("\n".join(lines) + "\n\n" + note).encode("utf-8")


def _parse_body(body: bytes) -> tuple[int, list[bytes], str]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WitnessRefusal(400, "the request is not UTF-8 text") from None
    head, sep, note = text.partition("\n\n")
    lines = head.split("\n")
    if not sep or not lines[0].startswith("old "):
        raise WitnessRefusal(400, "the request starts with 'old <size>', the proof lines and a blank line")
    size_text = lines[0][4:]
    if not size_text.isdigit() or (len(size_text) > 1 and size_text[0] == "0"):
        raise WitnessRefusal(400, f"old size {size_text!r} is not a decimal number")
    try:
        proof = [base64.b64decode(h, validate=True) for h in lines[1:]]
    except (ValueError, binascii.Error):
        raise WitnessRefusal(400, "a proof line is not base64") from None
    if any(len(h) != 32 for h in proof):
        raise WitnessRefusal(400, "a proof line is not a 32-byte hash")
    return int(size_text), proof, note


def serve(witness: Witness, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """An HTTP server answering ``POST /add-checkpoint`` for ``witness`` (call ``serve_forever`` on it)."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> None:
            data = text.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            if self.path.rstrip("/").rsplit("/", 1)[-1] != "add-checkpoint":
                self._answer(404, "not found\n")
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > 1 << 20:
                self._answer(400, "request too large\n")
                return
            try:
                old, proof, note = _parse_body(self.rfile.read(length))
                line = witness.add_checkpoint(old, proof, note)
            except WitnessRefusal as exc:
                if exc.status == 409 and exc.size is not None and "split view" not in str(exc):
                    self._answer(409, f"{exc.size}\n", "text/x.tlog.size")
                else:
                    self._answer(exc.status, f"{exc}\n")
                return
            except LedgerError as exc:
                self._answer(500, f"{exc}\n")
                return
            self._answer(200, line)

        def do_GET(self) -> None:
            self._answer(200, witness.vkey + "\n")

        def log_message(self, format: str, *args: Any) -> None:
            return

    return ThreadingHTTPServer((host, port), Handler)


def request_cosignature(
    url: str, checkpoint: Checkpoint, proof_from: Any, *, old_size: int = 0, timeout: float = 30.0
) -> str:
    """Ask the witness at ``url`` to cosign ``checkpoint`` (tlog-witness ``add-checkpoint``).

    ``proof_from(size)`` gives the consistency proof from ``size`` to the checkpoint's size; when the
    witness answers 409 with its own size, the request is made once more from that size.

    Returns
    -------
    str
        The cosignature line(s).

    Raises
    ------
    WitnessRefusal
        With the witness's status and answer when it will not cosign.
    """
    target = url.rstrip("/") + "/add-checkpoint"
    for _attempt in range(2):
        proof = proof_from(old_size) if old_size else []
        request = urllib.request.Request(target, data=add_checkpoint_body(old_size, proof, checkpoint.note()),
                                         method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            text = exc.read().decode("utf-8", "replace")
            if exc.code == 409 and exc.headers.get("Content-Type", "").startswith("text/x.tlog.size"):
                size = int(text.strip())
                if size <= checkpoint.tree_size and size != old_size:
                    old_size = size
                    continue
            raise WitnessRefusal(exc.code, f"{url}: {text.strip()}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise WitnessRefusal(0, f"cannot reach the witness {url} ({exc})") from None
    raise WitnessRefusal(409, f"{url}: the witness's size moved twice")  # pragma: no cover


# ---- pull: a council witnesses a platform --------------------------------------------------------


def _fetch(url: str, timeout: float) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        raise LedgerError(f"the platform answered {exc.code} ({exc.read()[:200]!r})", where=url) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise LedgerError(f"cannot read the platform's answer ({exc})", where=url) from None


def witness_platform(witness: Witness, base: str, *, publish: bool = True, timeout: float = 30.0) -> tuple[
        Checkpoint, str]:
    """Fetch a platform's latest checkpoint and the consistency proof from what this witness last
    cosigned, check both, cosign, and (with ``publish``) hand the cosignature to the platform.

    Raises
    ------
    WitnessRefusal
        When the platform's checkpoint is not signed by the log's key, or does not extend what this
        witness cosigned before (a split view or a fork): then nothing is cosigned.
    """
    base = base.rstrip("/")
    obj = _fetch(f"{base}/api/log/checkpoint", timeout)
    if not isinstance(obj, dict) or "note" not in obj:
        raise LedgerError("the checkpoint is not in the signed-note form", where=f"{base}/api/log/checkpoint")
    cp = Checkpoint.from_note(obj["note"], where=f"{base}/api/log/checkpoint")
    seen = witness.latest(cp.origin or "")
    old = 0 if seen is None else seen[0]
    proof: list[bytes] = []
    if 0 < old < cp.tree_size:
        query = urllib.parse.urlencode({"first": old, "second": cp.tree_size})
        answer = _fetch(f"{base}/api/log/proof/consistency?{query}", timeout)
        try:
            proof = [bytes.fromhex(h) for h in answer["path"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise LedgerError(f"malformed consistency proof ({exc})", where=base) from None
    elif old > cp.tree_size:
        raise WitnessRefusal(409, f"the platform shows size {cp.tree_size}, but this witness cosigned size {old}: "
                           "the log shrank, or this is another view of it", size=old)
    line = witness.add_checkpoint(old, proof, cp.note(cosigned=False))
    if publish:
        data = json.dumps({"checkpoint": cp.note(cosigned=False), "cosignatures": [line]}).encode("utf-8")
        request = urllib.request.Request(f"{base}/api/log/cosignatures", data=data, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(request, timeout=timeout).read()
        except (urllib.error.URLError, OSError) as exc:
            raise LedgerError(f"the platform did not take the cosignature ({exc})", where=base) from None
    return cp, line
