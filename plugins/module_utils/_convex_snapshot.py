# -*- coding: utf-8 -*-
# Copyright: joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to joelclaw.macmini: this module_util may change without notice.
"""Snapshot export and import flows (shared reference sections 6.1-6.3) on top of ConvexClient."""

from __future__ import annotations

import hashlib
import json
import os
import queue
import re
import socket
import struct
import tempfile
import threading
import time
import zipfile
import zlib

from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_client import ConvexError, int64, poll_intervals

CHUNK = 1024 * 1024
SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]+\.zip$")
STABLE_EXPORT = ("completed", "failed")


class Deadline(object):
    def __init__(self, seconds):
        self.seconds = float(seconds)
        self.end = time.monotonic() + self.seconds

    def left(self):
        return self.end - time.monotonic()

    def sleep(self, delay):
        time.sleep(max(0.0, min(delay, self.left())))

    def expired(self):
        return self.left() <= 0


# ---------------------------------------------------------------------------- export
def wait_for_export(client, deadline, ignore_id=None, request_timeout=None):
    """Poll _system/cli/exports:getLatest until the newest export (not ignore_id) is stable."""
    last = None
    for delay in poll_intervals():
        doc = client.latest_export(timeout=request_timeout)
        if doc is not None and doc.get("_id") != ignore_id:
            last = doc
            if doc.get("state") in STABLE_EXPORT:
                return doc
        if deadline.expired():
            state = last.get("state") if last else "not yet visible"
            progress = (last or {}).get("progress_message")
            raise ConvexError(
                "the export did not complete within %gs (state: %s%s). It keeps running on the server; "
                "raise timeout or try again later." % (deadline.seconds, state, ", %s" % progress if progress else ""),
                kind="timeout")
        deadline.sleep(delay)
    return None  # pragma: no cover - poll_intervals never ends


def request_export(client, include_storage, deadline, request_timeout=None):
    """Request a new export and return its completed _exports document.

    An export already running (ExportInProgress) is waited for, then ours is requested.
    """
    while True:
        previous = client.latest_export(timeout=request_timeout)
        try:
            client.request_export(include_storage, timeout=request_timeout)
        except ConvexError as exc:
            if exc.code != "ExportInProgress":
                raise
            wait_for_export(client, deadline, request_timeout=request_timeout)
            continue
        doc = wait_for_export(client, deadline, ignore_id=(previous or {}).get("_id"), request_timeout=request_timeout)
        if doc.get("state") == "failed":
            raise ConvexError("the backend reports the export as failed (start_ts %s). Check the backend logs "
                              "and the free space of its export storage." % doc.get("start_ts"), kind="state")
        return doc


def filename_from(disposition, start_ts):
    prefix = "attachment; filename="
    if disposition and disposition.startswith(prefix):
        name = os.path.basename(disposition[len(prefix):].strip().strip('"'))
        if SAFE_NAME.match(name):
            return name
    return "snapshot_%s.zip" % start_ts


class StreamingZipCheck(object):
    """Check the CRC of every ZIP member while the bytes arrive (fed from the download loop).

    Members whose end cannot be found without the central directory (stored with a data
    descriptor, unknown methods) are listed in ``unchecked`` for a check after the download.
    ``error`` names the first corruption found.
    """

    LOCAL, DESCRIPTOR = b"PK\x03\x04", b"PK\x07\x08"

    def __init__(self):
        self.buf = bytearray()
        self.state = "header"
        self.member = None
        self.checked, self.unchecked = [], []
        self.error = None
        self.stopped = False

    def feed(self, data):
        if self.stopped or self.error:
            return
        self.buf += data
        try:
            self._run()
        except (ValueError, zlib.error, struct.error) as exc:
            self.error = "%s: %s" % (self.member["name"] if self.member else "header", exc)

    def _start_member(self):
        if len(self.buf) < 30:
            return False
        (_sig, _ver, flags, method, _t, _d, crc, csize, usize, nlen, xlen) = struct.unpack("<4s5H3L2H", bytes(self.buf[:30]))
        if len(self.buf) < 30 + nlen + xlen:
            return False
        name = bytes(self.buf[30:30 + nlen]).decode("utf-8", "replace")
        extra = bytes(self.buf[30 + nlen:30 + nlen + xlen])
        zip64 = False
        pos = 0
        while pos + 4 <= len(extra):
            tag, size = struct.unpack("<HH", extra[pos:pos + 4])
            if tag == 1:
                zip64 = True
                values = list(struct.unpack("<%dQ" % (size // 8), extra[pos + 4:pos + 4 + size - size % 8]))
                if usize == 0xFFFFFFFF and values:
                    usize = values.pop(0)
                if csize == 0xFFFFFFFF and values:
                    csize = values.pop(0)
            pos += 4 + size
        del self.buf[:30 + nlen + xlen]
        self.member = {"name": name, "flags": flags, "method": method, "crc": crc, "csize": csize, "usize": usize,
                       "zip64": zip64, "seen": 0, "out": 0, "crc_now": 0,
                       "inflate": zlib.decompressobj(-15) if method == 8 else None}
        return True

    def _absorb(self, data):
        member = self.member
        if member["inflate"] is not None:
            data = member["inflate"].decompress(data)
        member["crc_now"] = zlib.crc32(data, member["crc_now"])
        member["out"] += len(data)

    def _finish(self, crc, usize):
        member = self.member
        if member["inflate"] is not None and not member["inflate"].eof:
            raise ValueError("deflate stream is truncated")
        if member["crc_now"] != crc or member["out"] != usize:
            raise ValueError("CRC or size mismatch")
        self.checked.append(member["name"])
        self.member, self.state = None, "header"

    def _run(self):
        while True:
            if self.state == "header":
                if len(self.buf) < 4:
                    return
                if bytes(self.buf[:4]) != self.LOCAL:
                    self.stopped = True  # the central directory (or garbage, which zipfile will report)
                    self.buf = bytearray()
                    return
                if not self._start_member():
                    return
                member = self.member
                streaming = member["flags"] & 8
                if member["method"] not in (0, 8) or (streaming and member["method"] == 0):
                    self.unchecked.append(member["name"])
                    if streaming:
                        self.stopped = True
                        self.buf = bytearray()
                        return
                    self.state = "skip"
                else:
                    self.state = "stream" if streaming else "sized"
            elif self.state in ("sized", "skip"):
                member = self.member
                take = min(member["csize"] - member["seen"], len(self.buf))
                if self.state == "sized":
                    self._absorb(bytes(self.buf[:take]))
                del self.buf[:take]
                member["seen"] += take
                if member["seen"] < member["csize"]:
                    return
                if self.state == "skip":
                    self.member, self.state = None, "header"
                else:
                    if member["inflate"] is not None:
                        tail = member["inflate"].flush()
                        member["crc_now"] = zlib.crc32(tail, member["crc_now"])
                        member["out"] += len(tail)
                    self._finish(member["crc"], member["usize"])
            elif self.state == "stream":
                member = self.member
                data = bytes(self.buf)
                self.buf = bytearray()
                self._absorb(data)
                if not member["inflate"].eof:
                    return
                self.buf = bytearray(member["inflate"].unused_data)
                self.state = "descriptor"
            elif self.state == "descriptor":
                width = 8 if self.member["zip64"] else 4
                signed = bytes(self.buf[:4]) == self.DESCRIPTOR
                need = (4 if signed else 0) + 4 + 2 * width
                if len(self.buf) < need:
                    return
                body = bytes(self.buf[4 if signed else 0:need])
                del self.buf[:need]
                crc = struct.unpack("<L", body[:4])[0]
                usize = struct.unpack("<Q" if width == 8 else "<L", body[4 + width:4 + 2 * width])[0]
                self._finish(crc, usize)


def verify_zip(path, checked=None):
    """Check the archive the way a restore would need it; return the table names.

    ``checked``: member names whose CRC was already verified while downloading; the
    others are read and checked here. Raises ValueError naming the problem.
    """
    done = set(checked or ())
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if "_tables/documents.jsonl" not in names:
                raise ValueError("no _tables/documents.jsonl: not a Convex snapshot export")
            for info in archive.infolist():
                if info.filename in done:
                    continue
                with archive.open(info) as member:
                    while member.read(CHUNK):
                        pass
            tables = []
            for line in archive.read("_tables/documents.jsonl").decode("utf-8").splitlines():
                if line.strip():
                    tables.append(json.loads(line)["name"])
    except (zipfile.BadZipFile, zlib.error, EOFError, KeyError, UnicodeDecodeError) as exc:
        raise ValueError("%s: %s" % (type(exc).__name__, exc))
    except ValueError as exc:
        raise ValueError(str(exc))
    return sorted(tables)


def _consume(chunks, sink):
    """Worker: feed every chunk from the queue to sink until None arrives."""
    while True:
        chunk = chunks.get()
        if chunk is None:
            return
        sink(chunk)


def download_export(client, start_ts, dest, request_timeout=None, force=False):
    """Stream the export to a temporary file beside its destination, hash it and check its
    CRCs in two worker threads while it downloads (zlib and hashlib release the GIL), then
    rename it into place. Returns a dict with path, size, sha256, tables."""
    response = client.open_export(start_ts, timeout=request_timeout)
    try:
        if os.path.isdir(dest):
            path = os.path.join(dest, filename_from(response.headers.get("Content-Disposition"), start_ts))
        else:
            path = dest
        if os.path.exists(path) and not force:
            raise ConvexError("%s already exists; choose another dest or set force=true." % path, kind="config")
        expected = response.headers.get("Content-Length")
        directory = os.path.dirname(os.path.abspath(path))
        handle, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".part", dir=directory)
        digest, check, size = hashlib.sha256(), StreamingZipCheck(), 0
        queues = [queue.Queue(maxsize=16), queue.Queue(maxsize=16)]
        workers = [threading.Thread(target=_consume, args=(queues[0], digest.update), daemon=True),
                   threading.Thread(target=_consume, args=(queues[1], check.feed), daemon=True)]
        for worker in workers:
            worker.start()
        try:
            os.fchmod(handle, 0o600)
            with os.fdopen(handle, "wb") as out:
                try:
                    while True:
                        try:
                            chunk = response.read(CHUNK)
                        except (socket.timeout, TimeoutError):
                            raise ConvexError("the export download stalled for %gs at %d bytes."
                                              % (client.timeout, size), kind="timeout")
                        if not chunk:
                            break
                        out.write(chunk)
                        size += len(chunk)
                        for chunks in queues:
                            chunks.put(chunk)
                finally:
                    for chunks in queues:
                        chunks.put(None)
                    for worker in workers:
                        worker.join()
            if expected is not None and expected.isdigit() and int(expected) != size:
                raise ConvexError("the export download ended at %d of %s bytes." % (size, expected), kind="malformed")
            try:
                if check.error:
                    raise ValueError(check.error)
                tables = verify_zip(tmp, checked=check.checked)
            except ValueError as exc:
                raise ConvexError("the downloaded export is corrupt (%s); nothing was kept. Retry the export."
                                  % exc, kind="malformed")
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    finally:
        response.close()
    return {"path": path, "size": size, "sha256": digest.hexdigest(), "tables": tables}


# ---------------------------------------------------------------------------- import
def zip_summary(path):
    """(tables, rows) counted from the local archive, refusing one that is not an export."""
    try:
        tables = verify_zip(path)
    except ValueError as exc:
        raise ConvexError("%s is not a usable Convex snapshot (%s)." % (path, exc), kind="config")
    rows = 0
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            parts = name.split("/")
            if parts[-1] == "documents.jsonl" and not parts[0].startswith("_"):
                with archive.open(name) as member:
                    rows += sum(1 for line in member if line.strip())
    return tables, rows


def upload(client, path, mode, chunk_size, request_timeout=None):
    token = client.start_upload(timeout=request_timeout)
    parts = []
    with open(path, "rb") as handle:
        number = 1
        while True:
            chunk = handle.read(chunk_size)
            if not chunk and parts:
                break
            parts.append(client.upload_part(token, number, chunk, timeout=request_timeout))
            number += 1
            if len(chunk) < chunk_size:
                break
    return client.finish_upload(token, parts, mode, timeout=request_timeout), len(parts)


def wait_for_import(client, import_id, deadline, stable, request_timeout=None):
    """Poll _system/cli/queryImport until its state is one of stable; return the state dict."""
    state = {}
    for delay in poll_intervals():
        state = client.import_state(import_id, timeout=request_timeout)["state"]
        if state.get("state") in stable:
            return state
        if deadline.expired():
            raise ConvexError(
                "the import %s did not finish within %gs (state: %s%s). It keeps running on the server; cancel it "
                "with POST /api/cancel_import if needed." % (
                    import_id, deadline.seconds, state.get("state"),
                    ", %s" % state["progress_message"] if state.get("progress_message") else ""), kind="timeout")
        deadline.sleep(delay)
    return state  # pragma: no cover


def run_import(client, path, mode, deadline, chunk_size, request_timeout=None):
    import_id, parts = upload(client, path, mode, chunk_size, request_timeout)
    result = {"import_id": import_id, "parts": parts, "message_to_confirm": None}
    state = wait_for_import(client, import_id, deadline, ("waiting_for_confirmation", "completed", "failed"),
                            request_timeout)
    if state["state"] == "waiting_for_confirmation":
        result["message_to_confirm"] = state.get("message_to_confirm")
        client.perform_import(import_id, timeout=request_timeout)
        state = wait_for_import(client, import_id, deadline, ("completed", "failed"), request_timeout)
    if state["state"] == "failed":
        raise ConvexError("the backend refused the import: %s" % state.get("error_message"), kind="state")
    try:
        result["rows_written"] = int64(state.get("num_rows_written", 0))
    except ValueError:
        raise ConvexError("the import completed but num_rows_written is not an integer: %r"
                          % (state.get("num_rows_written"),), kind="malformed")
    return result
