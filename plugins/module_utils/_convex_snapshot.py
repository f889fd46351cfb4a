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
SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]+\.zip\Z")
# The terminal states of an export (get-convex/convex-backend crates/model/src/exports/types.rs at
# 94a42c3: SerializedExport is tagged "state" in snake_case; Canceled also reads as "cancelled").
# "canceled" comes from POST /api/export/cancel/{id}, e.g. the dashboard's cancel button.
CANCELED_EXPORT = ("canceled", "cancelled")
STABLE_EXPORT = ("completed", "failed") + CANCELED_EXPORT


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
        if doc.get("state") in CANCELED_EXPORT:
            raise ConvexError("the export %s was canceled on the server (POST /api/export/cancel, e.g. from the "
                              "dashboard) before it completed; nothing was downloaded. Run the task again to take "
                              "a new export." % doc.get("_id"), kind="state")
        return doc


def filename_from(disposition, start_ts):
    prefix = "attachment; filename="
    if disposition and disposition.startswith(prefix):
        name = os.path.basename(disposition[len(prefix):].strip().strip('"'))
        if SAFE_NAME.match(name):
            return name
    return "snapshot_%s.zip" % start_ts


class StreamingZipCheck(object):
    """Check a ZIP while its bytes arrive (fed from the download loop), record by record.

    Written for the archives the Convex backend streams with async_zip 0.0.18
    (get-convex/convex-backend crates/exports/src/zip_uploader.rs at 94a42c3; Majored/rs-async-zip
    src/base/write/entry_stream.rs and src/base/write/mod.rs at v0.0.18): local headers with
    flag bit 3, sizes 0xFFFFFFFF and a zip64 extra whose sizes are 0; Deflate data; a 16-byte data
    descriptor (signature, CRC, 0xFFFFFFFF twice); a central directory whose zip64 extras hold the
    real sizes and offsets; zip64 end record, zip64 locator, end record. Other writers' layouts
    (sizes in the local header, 12/16/24-byte descriptors with real sizes) are accepted too.

    Every Deflate member is inflated until its stream ends and its CRC-32 and sizes are computed;
    they must match the descriptor (where it holds values) and the central directory, whose
    records must name exactly the members seen, at their offsets; the end records must agree
    with the directory. Call finish() after the last byte: an archive that stops early is
    truncated. A member whose end cannot be found without the directory (stored with a data
    descriptor, an unknown method) stops the streaming check: it is listed in ``unchecked`` and
    ``stopped`` is set, for verify_zip to read the archive afterwards.
    ``error`` names the first problem found; ``tables`` lists the user tables of the root
    _tables/documents.jsonl once finish() has run without error.
    """

    LOCAL, DESCRIPTOR, CENTRAL = b"PK\x03\x04", b"PK\x07\x08", b"PK\x01\x02"
    ZIP64_END, ZIP64_LOCATOR, END = b"PK\x06\x06", b"PK\x06\x07", b"PK\x05\x06"
    NEXT_RECORD = (LOCAL, CENTRAL)
    TABLES_INDEX = "_tables/documents.jsonl"
    INDEX_LIMIT = 64 * 1024 * 1024

    def __init__(self):
        self.buf = bytearray()
        self.offset = 0            # archive offset of buf[0]
        self.state = "record"
        self.member = None
        self.members = {}          # local header offset -> checked member
        self.skipped = {}          # local header offset -> name (not checked while streaming)
        self.directory = []        # names in central directory order
        self.cd_start = self.zip64_end = None
        self.index = None          # the root _tables/documents.jsonl, inflated
        self.checked, self.unchecked, self.tables = [], [], []
        self.error = None
        self.stopped = self.done = False

    # ------------------------------------------------------------------ input
    def feed(self, data):
        if self.stopped or self.error:
            return
        if self.done:
            if data:
                self.error = "%d bytes after the end of central directory record" % len(data)
            return
        self.buf += data
        try:
            self._run()
        except (ValueError, zlib.error, struct.error) as exc:
            self.error = "%s: %s" % (self.member["name"] if self.member else "at byte %d" % self.offset, exc)

    def finish(self):
        """The download has ended: report a truncated archive, check the tables index."""
        if self.error or self.stopped:
            return
        if not self.done:
            if self.member:
                where = "inside member %s (%s)" % (self.member["name"], "its Deflate stream never ends: truncated or "
                                                   "damaged" if self.state == "stream" else "cut short")
            else:
                where = "before its end records"
            self.error = "the archive is truncated or damaged: it ends at byte %d, %s" % (
                self.offset + len(self.buf), where)
            return
        try:
            self.tables = self._tables()
        except ValueError as exc:
            self.error = str(exc)

    def _tables(self):
        if self.index is None:
            raise ValueError("no %s: not a Convex snapshot export" % self.TABLES_INDEX)
        try:
            tables = table_names(self.index.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise ValueError("%s is not JSON lines of tables (%s)" % (self.TABLES_INDEX, exc))
        names = set(self.directory)
        for table in tables:
            if "%s/documents.jsonl" % table not in names:
                raise ValueError("table %s is listed in %s but the archive has no %s/documents.jsonl"
                                 % (table, self.TABLES_INDEX, table))
        return sorted(tables)

    def _take(self, count):
        data = bytes(self.buf[:count])
        del self.buf[:count]
        self.offset += count
        return data

    # ------------------------------------------------------------------ records
    def _run(self):
        while not (self.stopped or self.done):
            if self.state == "record":
                if len(self.buf) < 4:
                    return
                signature = bytes(self.buf[:4])
                handler = {self.LOCAL: self._local, self.CENTRAL: self._central, self.ZIP64_END: self._zip64_end,
                           self.ZIP64_LOCATOR: self._zip64_locator, self.END: self._end}.get(signature)
                if handler is None:
                    raise ValueError("no ZIP record here (found %r)" % signature)
                if not handler():
                    return
            elif self.state == "sized":
                if not self._sized():
                    return
            elif self.state == "stream":
                if not self._stream():
                    return
            elif self.state == "descriptor":
                if not self._descriptor():
                    return

    @staticmethod
    def _zip64(extra, values, wanted):
        """Replace the 0xFFFFFFFF values among wanted (names, in APPNOTE order) from the zip64 extra."""
        pos = 0
        while pos + 4 <= len(extra):
            tag, size = struct.unpack("<HH", extra[pos:pos + 4])
            if tag == 1:
                data = extra[pos + 4:pos + 4 + size]
                for name in wanted:
                    if values[name] == 0xFFFFFFFF and len(data) >= 8:
                        values[name] = struct.unpack("<Q", data[:8])[0]
                        data = data[8:]
                return True
            pos += 4 + size
        return False

    def _local(self):
        if len(self.buf) < 30:
            return False
        (_sig, _ver, flags, method, _t, _d, crc, csize, usize, nlen, xlen) = struct.unpack(
            "<4s5H3L2H", bytes(self.buf[:30]))
        if len(self.buf) < 30 + nlen + xlen:
            return False
        if self.cd_start is not None:
            raise ValueError("a local file header after the central directory")
        start = self.offset
        header = self._take(30 + nlen + xlen)
        name = header[30:30 + nlen].decode("utf-8", "replace")
        values = {"usize": usize, "csize": csize}
        self._zip64(header[30 + nlen:], values, ("usize", "csize"))
        streaming = bool(flags & 8)
        self.member = {"name": name, "offset": start, "method": method, "crc": crc, "csize": values["csize"],
                       "usize": values["usize"], "seen": 0, "out": 0, "crc_now": 0,
                       "inflate": zlib.decompressobj(-15) if method == 8 else None,
                       "keep": bytearray() if name == self.TABLES_INDEX else None}
        if method not in (0, 8) or (streaming and method == 0):
            self.unchecked.append(name)
            self.skipped[start] = name
            if streaming:
                self.stopped = True    # its end is only known from the central directory
                self.buf = bytearray()
                return False
            self.member["inflate"] = False
            self.state = "sized"
        else:
            self.state = "stream" if streaming else "sized"
        return True

    def _absorb(self, data, inflated=False):
        member = self.member
        if member["inflate"] and not inflated:
            data = member["inflate"].decompress(data)
        member["crc_now"] = zlib.crc32(data, member["crc_now"])
        member["out"] += len(data)
        if member["keep"] is not None:
            if len(member["keep"]) + len(data) > self.INDEX_LIMIT:
                raise ValueError("larger than %d bytes" % self.INDEX_LIMIT)
            member["keep"] += data

    def _sized(self):
        member = self.member
        take = min(member["csize"] - member["seen"], len(self.buf))
        data = self._take(take)
        member["seen"] += take
        if member["inflate"] is not False:
            self._absorb(data)
        if member["seen"] < member["csize"]:
            return False
        if member["inflate"] is False:
            self.member, self.state = None, "record"
            return True
        if member["inflate"] is not None:
            self._absorb(member["inflate"].flush(), inflated=True)
            if not member["inflate"].eof:
                raise ValueError("its Deflate stream does not end where its size says")
        self._check(member["crc"], member["usize"], member["csize"], "local header")
        return True

    def _stream(self):
        member = self.member
        data = self._take(len(self.buf))
        self._absorb(data)
        if not member["inflate"].eof:
            member["seen"] += len(data)
            return False
        rest = member["inflate"].unused_data
        member["seen"] += len(data) - len(rest)
        self.buf = bytearray(rest) + self.buf
        self.offset -= len(rest)
        self.state = "descriptor"
        return True

    def _descriptor(self):
        signed = 4 if bytes(self.buf[:4]) == self.DESCRIPTOR else 0
        if len(self.buf) < signed + 16:
            return False
        if bytes(self.buf[signed + 12:signed + 16]) in self.NEXT_RECORD:
            width = 4       # async_zip 0.0.18: crc, then 0xFFFFFFFF as both sizes
        elif len(self.buf) < signed + 24:
            return False
        elif bytes(self.buf[signed + 20:signed + 24]) in self.NEXT_RECORD:
            width = 8       # APPNOTE 4.3.9.2: zip64 sizes
        else:
            raise ValueError("no data descriptor where its Deflate stream ends")
        body = self._take(signed + 4 + 2 * width)[signed:]
        crc = struct.unpack("<L", body[:4])[0]
        csize, usize = struct.unpack("<QQ" if width == 8 else "<LL", body[4:])
        if width == 4 and (csize, usize) == (0xFFFFFFFF, 0xFFFFFFFF):
            csize = usize = None     # "see the central directory"
        self._check(crc, usize, csize, "data descriptor")
        return True

    def _check(self, crc, usize, csize, source):
        member = self.member
        if member["crc_now"] != crc:
            raise ValueError("CRC-32 of the data is %08x, its %s says %08x" % (member["crc_now"], source, crc))
        for what, have, said in (("uncompressed", member["out"], usize), ("compressed", member["seen"], csize)):
            if said is not None and said != have and said != have % (1 << 32):
                raise ValueError("%s size is %d, its %s says %d" % (what, have, source, said))
        if member["keep"] is not None and self.index is None:
            self.index = bytes(member["keep"])
        self.members[member["offset"]] = member
        self.checked.append(member["name"])
        self.member, self.state = None, "record"

    def _central(self):
        if len(self.buf) < 46:
            return False
        fields = struct.unpack("<4s6H3L5H2L", bytes(self.buf[:46]))
        crc, csize, usize, nlen, xlen, clen, offset = fields[7], fields[8], fields[9], fields[10], fields[11], \
            fields[12], fields[16]
        if len(self.buf) < 46 + nlen + xlen + clen:
            return False
        if self.cd_start is None:
            self.cd_start = self.offset
        record = self._take(46 + nlen + xlen + clen)
        name = record[46:46 + nlen].decode("utf-8", "replace")
        values = {"usize": usize, "csize": csize, "offset": offset}
        self._zip64(record[46 + nlen:46 + nlen + xlen], values, ("usize", "csize", "offset"))
        member = self.members.get(values["offset"])
        seen = member["name"] if member else self.skipped.get(values["offset"])
        if seen != name:
            raise ValueError("the central directory places %s at byte %d, where %s" % (
                name, values["offset"], "%s starts" % seen if seen else "no member starts"))
        if name in self.directory:
            raise ValueError("the central directory lists %s twice" % name)
        self.directory.append(name)
        if member:
            if member["crc_now"] != crc:
                raise ValueError("%s: CRC-32 of the data is %08x, the central directory says %08x"
                                 % (name, member["crc_now"], crc))
            if (member["out"], member["seen"]) != (values["usize"], values["csize"]):
                raise ValueError("%s: sizes %d/%d (uncompressed/compressed), the central directory says %d/%d"
                                 % (name, member["out"], member["seen"], values["usize"], values["csize"]))
        return True

    def _zip64_end(self):
        if len(self.buf) < 12:
            return False
        size = struct.unpack("<Q", bytes(self.buf[4:12]))[0]
        if size < 44 or len(self.buf) < 12 + size:
            if size < 44:
                raise ValueError("zip64 end of central directory record of %d bytes" % size)
            return False
        self.zip64_end = self.offset
        record = self._take(12 + size)
        _made, _needed, _disk, _cd_disk, on_disk, count, cd_size, cd_offset = struct.unpack("<2H2L4Q", record[12:56])
        self._agree("zip64 end record", on_disk, count, cd_size, cd_offset, zip64_end=self.zip64_end)
        return True

    def _zip64_locator(self):
        if len(self.buf) < 20:
            return False
        _disk, where, _disks = struct.unpack("<LQL", self._take(20)[4:])
        if self.zip64_end is None or where != self.zip64_end:
            raise ValueError("the zip64 locator points at byte %d, not at the zip64 end record" % where)
        return True

    def _end(self):
        if len(self.buf) < 22:
            return False
        clen = struct.unpack("<H", bytes(self.buf[20:22]))[0]
        if len(self.buf) < 22 + clen:
            return False
        end = self.offset
        _sig, _disk, _cd_disk, on_disk, count, cd_size, cd_offset, _clen = struct.unpack(
            "<4s4H2LH", self._take(22 + clen)[:22])
        self._agree("end of central directory record", None if on_disk == 0xFFFF else on_disk,
                    None if count == 0xFFFF else count, None if cd_size == 0xFFFFFFFF else cd_size,
                    None if cd_offset == 0xFFFFFFFF else cd_offset, zip64_end=self.zip64_end or end)
        missing = sorted(set(m["name"] for m in self.members.values()) - set(self.directory))
        if missing:
            raise ValueError("the central directory does not list %s" % ", ".join(missing))
        self.done = True
        if self.buf:
            raise ValueError("%d bytes after the end of central directory record" % len(self.buf))
        return True

    def _agree(self, what, on_disk, count, cd_size, cd_offset, zip64_end):
        cd_start = self.cd_start if self.cd_start is not None else zip64_end
        have = {"entries on this disk": len(self.directory), "entries": len(self.directory),
                "directory size": zip64_end - cd_start, "directory offset": cd_start}
        for label, said in (("entries on this disk", on_disk), ("entries", count), ("directory size", cd_size),
                            ("directory offset", cd_offset)):
            if said is not None and said != have[label]:
                raise ValueError("the %s says %s %d, the archive has %d" % (what, label, said, have[label]))


def documents_table(member_name):
    """What a */documents.jsonl member of an export holds: (kind, key) or None.

    kind is "user" for a user table (key "table" at the root, "component/table" in a component,
    "a/b/table" in nested ones), "storage" for a _storage index (key "_storage" or
    "component/_storage"); any other system table (_tables, ...) gives None. The layout is
    get-convex/convex-backend crates/exports/src/lib.rs (get_export_path_prefix: one
    "_components/<name>/" per component in the path) at 94a42c3.
    """
    parts = member_name.split("/")
    if len(parts) < 2 or parts[-1] != "documents.jsonl":
        return None
    path, rest = [], parts[:-1]
    while len(rest) >= 3 and rest[0] == "_components":
        path.append(rest[1])
        rest = rest[2:]
    if len(rest) != 1:
        return None
    table = rest[0]
    if table == "_storage":
        return "storage", "/".join(path + ["_storage"])
    if table.startswith("_"):
        return None
    return "user", "/".join(path + [table])


def table_names(index_text):
    """The user tables named by a _tables/documents.jsonl ({"name": ..., "id": ...} per line)."""
    return [json.loads(line)["name"] for line in index_text.splitlines() if line.strip()]


def verify_zip(path, checked=None):
    """Check the archive the way a restore would need it; return the root's user tables.

    ``checked``: member names whose CRC was already verified while downloading; the
    others are read and checked here. Raises ValueError naming the problem.
    """
    done = set(checked or ())
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if StreamingZipCheck.TABLES_INDEX not in names:
                raise ValueError("no %s: not a Convex snapshot export" % StreamingZipCheck.TABLES_INDEX)
            for info in archive.infolist():
                if info.filename in done:
                    continue
                with archive.open(info) as member:
                    while member.read(CHUNK):
                        pass
            tables = table_names(archive.read(StreamingZipCheck.TABLES_INDEX).decode("utf-8"))
            for table in tables:
                if "%s/documents.jsonl" % table not in names:
                    raise ValueError("table %s is listed in %s but the archive has no %s/documents.jsonl"
                                     % (table, StreamingZipCheck.TABLES_INDEX, table))
    except (zipfile.BadZipFile, zlib.error, EOFError, KeyError, TypeError, UnicodeDecodeError) as exc:
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
                check.finish()
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
    """(tables, rows) counted from the local archive, refusing one that is not an export.

    rows counts the documents of every user table, the components' included; _tables and
    _storage indexes (of the root or of a component) are not user tables."""
    try:
        tables = verify_zip(path)
    except ValueError as exc:
        raise ConvexError("%s is not a usable Convex snapshot (%s)." % (path, exc), kind="config")
    rows = 0
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            kind = documents_table(name)
            if kind and kind[0] == "user":
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
