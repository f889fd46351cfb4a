# -*- coding: utf-8 -*-
# Copyright: joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""TEST STAND-IN for a self-hosted Convex backend. Not Convex; tests only.

It implements the routes the joelclaw.macmini Convex modules (and the npm
``convex`` CLI's ``env list/get/set`` and ``export``) use, with the upstream
status codes, JSON shapes and error codes from the shared reference
convex-selfhost.md sections 2, 3 and 6:

* GET /version, /instance_name, /instance_version, /;
* GET /api/check_admin_key, /api/v1/deployment_info;
* GET /api/list_environment_variables, POST /api/update_environment_variables
  (also under /api/v1/);
* POST /api/export/request/zip, GET /api/export/zip/<start_ts or id>, POST /api/export/cancel/<id>;
  exports are written in the backend's streamed async_zip layout (streamed_zip.py);
* POST /api/import/start_upload, upload_part, finish_upload, /api/perform_import,
  /api/cancel_import;
* POST /api/query for the _system/cli queries the CLI and the modules run;
* the sync WebSocket (GET /api/<version>/sync) far enough for the CLI:
  Connect, Authenticate (Admin), ModifyQuerySet -> Transition / AuthError;
* /http/* (HTTP actions, none deployed: 404), and optionally a site-proxy port
  that forwards every path to /http<path>, and a "dashboard" port serving /.

An admin key is accepted only if its prefix is this instance's name and it
decrypts under this INSTANCE_SECRET (KBKDF-CTR-HMAC-SHA256 + AES-128-GCM-SIV),
as the real backend does.

Runs on a plain Debian python3 with python3-cryptography (38 has no AESGCMSIV:
a small RFC 8452 implementation over AES-ECB is used then).

    python3 convex_standin.py --port 3210 --instance-name joelclaw --instance-secret <64 hex>
    (or INSTANCE_NAME / INSTANCE_SECRET / PORT / SITE_PROXY_PORT / DASHBOARD_PORT in the environment)
"""

from __future__ import annotations

import argparse
import base64
import collections
import hashlib
import hmac
import io
import json
import os
import re
import shutil
import signal
import struct
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from streamed_zip import write_streamed_zip  # noqa: E402  pylint: disable=wrong-import-position

try:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV
except ImportError:  # python3-cryptography 38 (Debian 12)
    AESGCMSIV = None

ENV_NAME_RE = re.compile(r"^[a-zA-Z_]+[a-zA-Z0-9_]*$")
ENV_NAME_MAX = 256
ENV_VALUE_MAX = 8 * 1024
# The knobs' defaults (convex-backend crates/common/src/knobs.rs ENV_VAR_LIMIT, ENV_VAR_TOTAL_SIZE_LIMIT @ 652b828):
# at most this many variables, and this many bytes of names plus values in all.
ENV_VAR_LIMIT = 512
ENV_VAR_TOTAL_SIZE_LIMIT = 512 * 1024
BUILTIN_ENV = ("CONVEX_CLOUD_URL", "CONVEX_SITE_URL")
IMPORT_MODES = ("requireEmpty", "append", "replace", "replaceAll")
IMPORT_FORMATS = ("csv", "jsonLines", "jsonArray", "zip")
# Upstream texts, convex-backend @ 652b828 (same at 94a42c3):
# crates/keybroker/src/operations.rs bad_admin_key_error(None)
BAD_DEPLOY_KEY_MESSAGE = ("The provided deploy key was invalid for this deployment. Double check that the "
                          "environment this key was generated for matches the desired deployment.")
# crates/application/src/application_function_runner/http_routing.rs run_http_action (no http.js, no mounts)
NO_HTTP_ACTIONS_MESSAGE = "This Convex deployment does not have HTTP actions enabled."
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# ---------------------------------------------------------------------------- admin keys
def _aes_ecb(key, block):
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return encryptor.update(block) + encryptor.finalize()


_POLY = (1 << 128) | (1 << 127) | (1 << 126) | (1 << 121) | 1


def _dot(a, b):
    """RFC 8452 dot(a, b) = a * b * x^-128 in GF(2^128) mod x^128+x^127+x^126+x^121+1."""
    product = 0
    while b:
        if b & 1:
            product ^= a
        a <<= 1
        b >>= 1
    for _step in range(128):
        if product & 1:
            product ^= _POLY
        product >>= 1
    return product


def _polyval(h, data):
    key = int.from_bytes(h, "little")
    acc = 0
    for i in range(0, len(data), 16):
        acc = _dot(acc ^ int.from_bytes(data[i:i + 16], "little"), key)
    return acc.to_bytes(16, "little")


def _pad16(data):
    return data + b"\x00" * (-len(data) % 16)


class PurePythonAESGCMSIV(object):
    """AES-128-GCM-SIV (RFC 8452) over AES-ECB, for cryptography builds without AESGCMSIV."""

    def __init__(self, key):
        if len(key) != 16:
            raise ValueError("AES-128-GCM-SIV needs a 16-byte key")
        self._key = key

    def _subkeys(self, nonce):
        blocks = [_aes_ecb(self._key, struct.pack("<I", i) + nonce)[:8] for i in range(4)]
        return blocks[0] + blocks[1], blocks[2] + blocks[3]

    @staticmethod
    def _ctr(enc_key, tag, data):
        counter = bytearray(tag)
        counter[15] |= 0x80
        first = struct.unpack("<I", bytes(counter[:4]))[0]
        out = bytearray()
        for i in range(0, len(data), 16):
            block = struct.pack("<I", (first + i // 16) & 0xFFFFFFFF) + bytes(counter[4:])
            stream = _aes_ecb(enc_key, block)
            out += bytes(x ^ y for x, y in zip(data[i:i + 16], stream))
        return bytes(out)

    def _tag(self, auth_key, enc_key, nonce, plaintext, aad):
        lengths = struct.pack("<QQ", len(aad) * 8, len(plaintext) * 8)
        s = bytearray(_polyval(auth_key, _pad16(aad) + _pad16(plaintext) + lengths))
        for i in range(12):
            s[i] ^= nonce[i]
        s[15] &= 0x7F
        return _aes_ecb(enc_key, bytes(s))

    def encrypt(self, nonce, data, associated_data):
        auth_key, enc_key = self._subkeys(nonce)
        tag = self._tag(auth_key, enc_key, nonce, data, associated_data or b"")
        return self._ctr(enc_key, tag, data) + tag

    def decrypt(self, nonce, data, associated_data):
        if len(data) < 16:
            raise ValueError("ciphertext too short")
        auth_key, enc_key = self._subkeys(nonce)
        tag = data[-16:]
        plaintext = self._ctr(enc_key, tag, data[:-16])
        if not hmac.compare_digest(self._tag(auth_key, enc_key, nonce, plaintext, associated_data or b""), tag):
            raise ValueError("authentication tag mismatch")
        return plaintext


def gcm_siv(key):
    return AESGCMSIV(key) if AESGCMSIV is not None else PurePythonAESGCMSIV(key)


def admin_cipher_key(secret):
    """KBKDF-CTR-HMAC-SHA256(secret, b"admin key") truncated to 16 bytes (one block)."""
    return hmac.new(secret, b"\x00\x00\x00\x01" + b"admin key", hashlib.sha256).digest()[:16]


def _varint(number):
    out = bytearray()
    while True:
        byte, number = number & 0x7F, number >> 7
        out.append(byte | (0x80 if number else 0))
        if not number:
            return bytes(out)


def make_admin_key(instance_name, secret_hex, issued_s=None, nonce=None, system=False):
    """The stand-in's own key maker (tests use it to build keys independently of the module)."""
    secret = bytes.fromhex(secret_hex)
    payload = b"\x10" + _varint(int(time.time() if issued_s is None else issued_s))
    payload += b"\x22\x00" if system else b"\x18\x00"
    nonce = os.urandom(12) if nonce is None else nonce
    sealed = gcm_siv(admin_cipher_key(secret)).encrypt(nonce, payload, b"\x01")
    return "%s|%s" % (instance_name, (b"\x01" + nonce + sealed).hex())


def _read_varint(data, pos):
    number = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        number |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return number, pos


def _admin_key_fields(payload):
    """The fields of convex_keys.AdminKey (crates/pb/protos/convex_keys.proto) that matter here."""
    fields, pos = {}, 0
    while pos < len(payload):
        tag, pos = _read_varint(payload, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            fields[number], pos = _read_varint(payload, pos)
        elif wire == 2:
            length, pos = _read_varint(payload, pos)
            fields[number], pos = payload[pos:pos + length], pos + length
        else:
            raise ValueError("unexpected wire type %d" % wire)
    return fields


def key_identity(key, instance_name, secret):
    """'admin' or 'system' when key is '<instance_name>|<hex>' and decrypts under secret (v1,
    GCM-SIV), else None. As crates/keybroker/src/broker.rs KeyBroker::check_admin_key @ 652b828:
    the payload must carry issued_s != 0 and an identity, member_id (field 3) -> DeploymentAdmin,
    system (field 4) -> System."""
    if not key or "|" not in key:
        return None
    name, _sep, encoded = key.partition("|")
    name = name.split(":")[-1]
    encoded = encoded.split(":", 1)[0]
    if name != instance_name:
        return None
    try:
        raw = bytes.fromhex(encoded)
    except ValueError:
        return None
    if len(raw) < 1 + 12 + 16 or raw[0] != 1:
        return None
    try:
        payload = gcm_siv(admin_cipher_key(secret)).decrypt(raw[1:13], raw[13:], raw[:1])
        fields = _admin_key_fields(payload)
    except Exception:  # InvalidTag or ValueError
        return None
    if not fields.get(2):
        return None
    if 4 in fields:
        return "system"
    if 3 in fields:
        return "admin"
    return None


def key_is_admin(key, instance_name, secret):
    """True when the backend accepts key as an admin (or system) key for this instance."""
    return key_identity(key, instance_name, secret) is not None


# ---------------------------------------------------------------------------- values
def encode_value(value, fmt):
    """Encode a stand-in value for the wire. Python ints are Convex int64 (wrapped in
    Int64 below when they must be int64 but small); floats stay numbers."""
    if isinstance(value, Int64):
        if fmt == "convex_encoded_json":
            return {"$integer": base64.b64encode(struct.pack("<q", int(value))).decode("ascii")}
        return str(int(value))
    if isinstance(value, dict):
        return {k: encode_value(v, fmt) for k, v in value.items()}
    if isinstance(value, list):
        return [encode_value(v, fmt) for v in value]
    return value


class Int64(int):
    """A Convex int64 (as opposed to a float64 number)."""


# Document ids as crates/value/src/id_v6.rs (DeveloperDocumentId encode/decode) and
# crates/value/src/base32.rs @ 652b828: base32 (this alphabet, no padding) of
# vint(table number) + 16 bytes + fletcher16 footer (little-endian), decoded only if canonical.
ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
STANDIN_TABLE_NUMBER = 10001  # guessed: any non-zero table number; the stand-in has no table mapping


def _base32_len(length):
    return (length // 5) * 8 + (0, 2, 4, 5, 7)[length % 5]


def _fletcher16(data):
    c0 = c1 = 0
    for byte in data:
        c0 = (c0 + byte) & 0xFF
        c1 = (c1 + c0) & 0xFF
    return (c1 << 8) | c0


def encode_document_id(table_number, internal_id):
    data = bytearray()
    number = table_number
    while True:
        if number < 0x80:
            data.append(number)
            break
        data.append((number & 0x7F) | 0x80)
        number >>= 7
    data += internal_id
    data += struct.pack("<H", _fletcher16(data))
    bits = int.from_bytes(bytes(data), "big") << (-len(data) * 8 % 40)
    chunks = (len(data) + 4) // 5 * 8
    text = "".join(ID_ALPHABET[(bits >> (5 * (chunks - 1 - i))) & 0x1F] for i in range(chunks))
    return text[:_base32_len(len(data))]


def decode_document_id(text):
    """(table_number, internal id bytes) for a canonical id, else None (IdDecodeError upstream)."""
    if not isinstance(text, str) or not _base32_len(1 + 16 + 2) <= len(text) <= _base32_len(5 + 16 + 2):
        return None
    if any(char not in ID_ALPHABET for char in text):
        return None
    bits = 0
    for char in text:
        bits = (bits << 5) | ID_ALPHABET.index(char)
    size = len(text) * 5 // 8
    data = (bits >> (len(text) * 5 - size * 8)).to_bytes(size, "big")
    number = shift = pos = 0
    while True:
        if pos >= len(data) or pos >= 5:
            return None
        byte = data[pos]
        pos += 1
        number |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            break
    if number == 0 or len(data) != pos + 16 + 2:
        return None
    if struct.unpack("<H", data[pos + 16:])[0] != _fletcher16(data[:pos + 16]):
        return None
    internal = data[pos:pos + 16]
    if encode_document_id(number, internal) != text:
        return None
    return number, internal


def new_id(table_number=STANDIN_TABLE_NUMBER):
    return encode_document_id(table_number, os.urandom(16))


def now_ns():
    return time.time_ns()


def u64_b64(number):
    return base64.b64encode(struct.pack("<Q", number)).decode("ascii")


# ---------------------------------------------------------------------------- state
class StandinState(object):
    def __init__(self, instance_name, instance_secret_hex, version="unknown", export_delay=0.0,
                 import_delay=0.0, workdir=None, export_cache=False):
        self.instance_name = instance_name
        self.secret = bytes.fromhex(instance_secret_hex)
        self.version = version
        self.export_delay = export_delay
        # Benchmarks only: reuse the previous ZIP while the tables are unchanged, so an export's
        # time is the client's, not the stand-in's zip writing.
        self.export_cache = export_cache
        self.download_rate = 0  # bytes/s for export downloads; 0 = as fast as possible (benchmarks)
        self._cached_zip = None
        self.import_delay = import_delay
        self.env = {}
        self.env_updates = []  # names sent in each update call (tests check what was sent)
        self.tables = {}
        self.storage = {}     # id -> bytes, or {"data": bytes, "contentType": str}
        self.components = {}  # name -> {"tables": {...}, "storage": {...}}: exported under _components/<name>/
        self.exports = []
        self.imports = {}
        self.uploads = {}
        self.requests = collections.deque(maxlen=1000)
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.generation = 0
        self.workdir = workdir or tempfile.mkdtemp(prefix="convex-standin-")
        # Faults the tests switch on: path -> seconds / status; names in a set.
        self.hang = {}
        self.status_override = {}
        self.malformed = set()
        self.faults = set()   # export_never_completes, corrupt_export, export_failed, import_never_completes

    def bump(self):
        with self.changed:
            self.generation += 1
            self.changed.notify_all()

    # ---- env
    def env_docs(self):
        return [{"_id": "env_" + name, "_creationTime": 0.0, "name": name, "value": value}
                for name, value in sorted(self.env.items())]

    # ---- exports
    def latest_export(self):
        with self.lock:
            for doc in reversed(self.exports):
                if doc["requestor"] == "snapshotExport":
                    return dict(doc)
        return None

    def start_export(self, include_storage):
        with self.lock:
            for doc in self.exports:
                if doc["state"] in ("requested", "in_progress"):
                    return None
            doc = {"_id": new_id(), "_creationTime": time.time() * 1000.0, "state": "requested",
                   "requestor": "snapshotExport", "format": {"format": "zip", "include_storage": include_storage}}
            self.exports.append(doc)
        self.bump()
        threading.Thread(target=self._run_export, args=(doc,), daemon=True).start()
        return doc

    def _run_export(self, doc):
        start = Int64(now_ns())
        with self.lock:
            doc.update(state="in_progress", start_ts=start, progress_message="Exporting tables")
            tables = {name: list(rows) for name, rows in self.tables.items()}
            include = doc["format"]["include_storage"]
            storage = dict(self.storage) if include else None
            components = {name: {"tables": {t: list(r) for t, r in c.get("tables", {}).items()},
                                 "storage": dict(c.get("storage", {})) if include else None}
                          for name, c in self.components.items()}
        self.bump()
        if self.export_delay:
            time.sleep(self.export_delay)
        if "export_never_completes" in self.faults:
            return
        with self.lock:
            if doc["state"] == "canceled":
                return   # the worker stops on a canceled export (application/src/exports/worker.rs)
        if "export_failed" in self.faults:
            with self.lock:
                doc.clear()
                doc.update({"_id": doc.get("_id") or new_id(), "state": "failed", "start_ts": start,
                            "failed_ts": Int64(now_ns()), "requestor": "snapshotExport"})
            self.bump()
            return
        path = os.path.join(self.workdir, "snapshot_%s_%d.zip" % (self.instance_name, int(start)))
        cached = self._cached_zip
        if self.export_cache and cached and cached[0] == (id(self.tables), sum(map(len, tables.values())), bool(storage)):
            os.link(cached[1], path)
        else:
            write_snapshot_zip(path, tables, storage, self.instance_name, components)
            self._cached_zip = ((id(self.tables), sum(map(len, tables.values())), bool(storage)), path)
        with self.lock:
            if doc["state"] == "canceled":
                return
            doc.pop("progress_message", None)
            doc.update(state="completed", complete_ts=Int64(now_ns()), zip_object_key=os.path.basename(path),
                       expiration_ts=Int64(now_ns() + 14 * 24 * 3600 * 10 ** 9),
                       tables=[[name, ""] for name in sorted(tables)])
            doc["_path"] = path
        self.bump()

    def cancel_export(self, ident):
        """crates/model/src/exports/mod.rs ExportsModel::cancel and types.rs Export::canceled: only
        a requested or in-progress export becomes "canceled" (start_ts kept if it had one, canceled_ts
        set). Returns None when there is no such export, False when it has already finished."""
        with self.lock:
            for doc in self.exports:
                if doc["_id"] == ident:
                    if doc["state"] not in ("requested", "in_progress"):
                        return False
                    keep = {k: doc[k] for k in ("_id", "_creationTime", "format", "requestor", "start_ts", "_path")
                            if k in doc}
                    doc.clear()
                    doc.update(keep, state="canceled", canceled_ts=Int64(now_ns()))
                    break
            else:
                return None
        self.bump()
        return True

    def find_export(self, ident):
        with self.lock:
            for doc in self.exports:
                if doc["state"] == "completed" and (doc["_id"] == ident or str(doc.get("start_ts")) == ident):
                    return doc
        return None

    # ---- imports
    def import_doc(self, import_id):
        with self.lock:
            doc = self.imports.get(import_id)
            return None if doc is None else {k: v for k, v in doc.items() if not k.startswith("_data")}


def public_doc(doc):
    return {k: v for k, v in doc.items() if k != "_path"} if doc else doc


# Extensions for storage file names. Upstream (crates/exports/src/export_storage.rs) asks the
# mime2ext crate; this small table was NOT read from mime2ext (guessed from the usual mime-db
# entries), and an unknown type gets no extension, as mime2ext's None does upstream.
STORAGE_EXTENSIONS = {"image/png": "png", "image/gif": "gif", "image/webp": "webp", "application/pdf": "pdf",
                      "application/json": "json", "text/plain": "txt"}


def storage_files(storage):
    """[(id, bytes, contentType or None)] from a storage dict whose values are bytes or
    {"data": bytes, "contentType": str}."""
    files = []
    for sid, blob in sorted(storage.items()):
        if isinstance(blob, dict):
            files.append((sid, blob["data"], blob.get("contentType")))
        else:
            files.append((sid, blob, None))
    return files


def snapshot_entries(tables, storage, components=None):
    """The members of an export ZIP, in the order the backend writes them.

    Read from get-convex/convex-backend @ 94a42c3 (release tip 652b828):
    * crates/exports/src/zip_uploader.rs: README.md first (ZipSnapshotUpload::new); each table's
      documents.jsonl (one JSON document per line, each followed by "\n"), then
      <table>/generated_schema.jsonl holding "uniform" and a newline
      (write_legacy_generated_schema); _tables gets no generated_schema.
    * crates/exports/src/lib.rs construct_zip_snapshot: every component's _tables/documents.jsonl
      first ({"name", "id"} per user table, by table number), then all tables sorted by size,
      then _storage per component; a component's paths are prefixed "_components/<name>/" for
      each name in its path (get_export_path_prefix), the root has no prefix.
    * crates/exports/src/export_storage.rs write_storage_table: _storage/documents.jsonl holds
      FileStorageZipMetadata per file (_id, _creationTime, sha256 as standard base64, size,
      contentType, internalId), then each file as _storage/<id><.ext>, Deflate like every member.
    The component order (root first, then by name) and the README text are the stand-in's own.
    """
    components = components or {}
    namespaces = [("", tables, storage)] + [("_components/%s/" % name, c.get("tables", {}), c.get("storage", {}))
                                            for name, c in sorted(components.items())]
    entries = [("README.md", b"# Snapshot export\n\nWritten by the TEST STAND-IN for Convex, not by a backend.\n")]
    number = 10001
    for prefix, ns_tables, _storage in namespaces:
        index = []
        for name in sorted(ns_tables):
            index.append(json.dumps({"name": name, "id": number}, separators=(",", ":")) + "\n")
            number += 1
        entries.append((prefix + "_tables/documents.jsonl", "".join(index).encode("utf-8")))
    every = []
    for prefix, ns_tables, _storage in namespaces:
        for name, rows in ns_tables.items():
            body = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows).encode("utf-8")
            every.append((len(body), prefix, name, body))
    for _size, prefix, name, body in sorted(every, key=lambda e: (e[0], e[1], e[2])):
        entries.append(("%s%s/documents.jsonl" % (prefix, name), body))
        entries.append(("%s%s/generated_schema.jsonl" % (prefix, name), b'"uniform"\n'))
    for prefix, _tables, ns_storage in namespaces:
        if ns_storage is None:
            continue
        files = storage_files(ns_storage)
        meta = "".join(json.dumps({
            "_id": sid, "_creationTime": 1.7e12, "sha256": base64.b64encode(hashlib.sha256(data).digest()).decode(),
            "size": len(data), "contentType": content_type,
            "internalId": str(uuid.uuid5(uuid.NAMESPACE_URL, prefix + sid)),
        }, separators=(",", ":")) + "\n" for sid, data, content_type in files)
        entries.append((prefix + "_storage/documents.jsonl", meta.encode("utf-8")))
        for sid, data, content_type in files:
            ext = STORAGE_EXTENSIONS.get(content_type or "")
            entries.append(("%s_storage/%s%s" % (prefix, sid, "." + ext if ext else ""), data))
    return entries


def write_snapshot_zip(path, tables, storage, instance_name, components=None):
    """An export ZIP as the backend streams it: members from snapshot_entries, bytes laid out
    by streamed_zip (async_zip 0.0.18's layout). storage=None leaves _storage out
    (includeStorage=false), as components' {"storage": None} does for them."""
    del instance_name  # the real README does not name the instance
    tmp = path + ".part"
    with open(tmp, "wb") as out:
        write_streamed_zip(out, snapshot_entries(tables, storage, components))
    os.replace(tmp, path)


def read_snapshot_zip(data):
    """{table: [rows]} from an export ZIP; raises ValueError for anything unusable."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        bad = archive.testzip()
    except (zipfile.BadZipFile, EOFError, OSError, zlib_error()) as exc:
        raise ValueError("ImportFailed: the file is not a valid ZIP (%s)" % exc)
    if bad is not None:
        raise ValueError("ImportFailed: ZIP member %s is corrupt" % bad)
    tables = {}
    for info in archive.infolist():
        parts = info.filename.split("/")
        if len(parts) == 2 and parts[1] == "documents.jsonl" and not parts[0].startswith("_"):
            rows = []
            for line in archive.read(info).decode("utf-8").splitlines():
                if line.strip():
                    rows.append(json.loads(line))
            tables[parts[0]] = rows
    return tables


def zlib_error():
    import zlib
    return zlib.error


def render_table_changes(changes):
    """Lines of the import summary table, as crates/application/src/snapshot_import/table_change.rs
    render_table_changes @ 652b828: columns padded to their widest cell, a dash rule under the
    header, counts with thousands separators; changes is {table: (added, deleted, existing)}."""
    if not changes:
        return []
    rows = [("table", "create", "delete")]
    for name in sorted(changes):
        added, deleted, existing = changes[name]
        rows.append((name, "{:,}".format(added), "{:,} of {:,}".format(deleted, existing)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = []
    for index, row in enumerate(rows):
        lines.append("%s | %s | %s |" % tuple(cell.ljust(width) for cell, width in zip(row, widths)))
        if index == 0:
            lines.append("-" * (widths[0] + 3 + widths[1] + 3 + widths[2] + 2))
    return lines


# ---------------------------------------------------------------------------- HTTP
class HttpError(Exception):
    def __init__(self, status, code, message):
        super(HttpError, self).__init__(message)
        self.status, self.code, self.message = status, code, message


def bad_admin_key():
    return HttpError(401, "BadAdminKey", "The provided admin key was invalid for this instance")


def export_for_download(state, ident):
    """The completed export GET /api/export/zip/<ident> serves, as crates/local_backend/src/
    snapshot_export.rs get_zip_export and crates/application/src/lib.rs Application::get_zip_export
    @ 652b828: ident is a document id, else a u64 timestamp (only a completed export's start_ts
    matches one), else 400 BadSnapshotId; an export that is not completed is 400 ExportNotComplete."""
    by_id = decode_document_id(ident) is not None
    if not by_id and not (re.match(r"^\+?[0-9]+$", ident) and int(ident) < 2 ** 64):
        raise HttpError(400, "BadSnapshotId", "Snapshot Id did not parse to an ID.")
    shown = ident if by_id else str(int(ident))
    with state.lock:
        for doc in state.exports:
            if by_id and doc["_id"] == ident:
                if doc["state"] != "completed":
                    raise HttpError(400, "ExportNotComplete", "The requested export %s has not completed" % shown)
                return doc
            if not by_id and doc["state"] == "completed" and int(doc.get("start_ts", -1)) == int(ident):
                return doc
    raise HttpError(404, "ExportNotFound", "The requested export %s was not found" % shown)


class Handler(BaseHTTPRequestHandler):
    server_version = "convex-standin"
    protocol_version = "HTTP/1.1"
    role = "api"  # or "site", "dashboard"

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        if self.server.verbose:
            sys.stderr.write("convex-standin %s %s\n" % (self.role, format % args))

    @property
    def state(self):
        return self.server.state

    # ---- plumbing
    def _send(self, status, body=b"", content_type="application/json", headers=None):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status, payload):
        self._send(status, json.dumps(payload))

    def _error(self, exc):
        self._json(exc.status, {"code": exc.code, "message": exc.message})

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json_body(self):
        """A JSON request body as crates/common/src/http/extract.rs Json::from_request @ 652b828:
        no `application/json` (or `+json`) Content-Type -> 400 BadJsonBody before the body is
        read; an empty or unparsable body -> 400 BadJsonBody too (serde's text is guessed)."""
        mime = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        kind, _slash, subtype = mime.partition("/")
        if kind != "application" or not (subtype == "json" or subtype.endswith("+json")):
            self._body()
            raise HttpError(400, "BadJsonBody", "Expected request with `Content-Type: application/json`")
        raw = self._body()
        try:
            value = json.loads(raw.decode("utf-8"))
        except ValueError as exc:
            raise HttpError(400, "BadJsonBody", "Failed to parse the request body as JSON: %s" % exc)
        if not isinstance(value, dict):
            raise HttpError(400, "BadJsonBody", "Failed to deserialize the JSON body: expected an object")
        return value

    def _admin_key(self):
        header = self.headers.get("Authorization") or ""
        if header[:7].lower() == "convex ":
            return header[7:].strip()
        query = parse_qs(urlsplit(self.path).query)
        if "adminKey" in query:
            return query["adminKey"][0]
        return None

    def _identity(self):
        """crates/local_backend/src/authentication.rs ExtractIdentity @ 652b828: no key is the
        Unknown identity (no error yet); a key that does not check is 401 BadAdminKey at once.
        Returns 'admin', 'system' or None."""
        key = self._admin_key()
        if key is None:
            return None
        identity = key_identity(key, self.state.instance_name, self.state.secret)
        if identity is None:
            raise bad_admin_key()
        return identity

    @staticmethod
    def _require_operation(identity):
        """crates/roles/src/eval.rs require_operation @ 652b828: System and admins pass; the
        Unknown identity gets 403 BadDeployKey (keybroker bad_admin_key_error(None))."""
        if identity is None:
            raise HttpError(403, "BadDeployKey", BAD_DEPLOY_KEY_MESSAGE)

    def _require_admin(self):
        identity = self._identity()
        self._require_operation(identity)
        return identity

    def _admin_json_body(self):
        """For handlers whose extractors are (ExtractIdentity, ..., Json): a bad key is 401 first,
        then the body's 400, then the missing key's 403 from require_operation in the handler."""
        identity = self._identity()
        body = self._json_body()
        self._require_operation(identity)
        return body

    def _faults(self, path):
        self.state.requests.append((self.command, path))
        delay = self.state.hang.get(path)
        if delay:
            time.sleep(delay)
        status = self.state.status_override.get(path)
        if status:
            self._send(status, "stand-in fault: status %d" % status, "text/plain")
            return True
        if path in self.state.malformed:
            self._send(200, "<html>not json</html>", "text/html")
            return True
        return False

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def _dispatch(self, method):
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        try:
            if self._faults(path):
                return
            if self.role == "dashboard":
                return self._send(200, "<!DOCTYPE html><title>Convex Dashboard (stand-in)</title>", "text/html")
            if self.role == "site":
                if path == "/version":
                    return self._send(200, "unknown", "text/plain")
                return self._http_action(method, path)
            handler = self._route(method, path)
            if handler is None:
                if path.startswith("/http/") or path == "/http":
                    return self._http_action(method, path[len("/http"):] or "/")
                raise HttpError(404, "NotFound", "No route for %s %s" % (method, path))
            handler(query)
        except HttpError as exc:
            self._error(exc)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _http_action(self, method, path):
        # No http.js is deployed on the stand-in: crates/application/src/application_function_runner/
        # http_routing.rs run_http_action @ 652b828 answers 404 with this text
        # (udf HttpActionResponsePart::from_text: text/plain; charset=utf-8).
        self._send(404, NO_HTTP_ACTIONS_MESSAGE, "text/plain; charset=utf-8")

    def _route(self, method, path):
        routes = {
            ("GET", "/"): lambda q: self._send(200, "This Convex deployment is running. See https://docs.convex.dev/.", "text/plain"),
            ("GET", "/version"): lambda q: self._send(200, self.state.version, "text/plain"),
            ("GET", "/instance_version"): lambda q: self._send(200, self.state.version, "text/plain"),
            ("GET", "/instance_name"): lambda q: self._send(200, self.state.instance_name, "text/plain"),
            ("GET", "/api/check_admin_key"): self.check_admin_key,
            ("GET", "/api/v1/deployment_info"): self.deployment_info,
            ("GET", "/api/list_environment_variables"): self.list_env,
            ("GET", "/api/v1/list_environment_variables"): self.list_env,
            ("POST", "/api/update_environment_variables"): self.update_env,
            ("POST", "/api/v1/update_environment_variables"): self.update_env,
            ("POST", "/api/export/request/zip"): self.request_export,
            ("POST", "/api/import/start_upload"): self.start_upload,
            ("POST", "/api/import/upload_part"): self.upload_part,
            ("POST", "/api/import/finish_upload"): self.finish_upload,
            ("POST", "/api/perform_import"): self.perform_import,
            ("POST", "/api/cancel_import"): self.cancel_import,
            ("POST", "/api/query"): self.run_query,
        }
        if (method, path) in routes:
            return routes[(method, path)]
        if method == "POST" and path.startswith("/api/export/cancel/"):
            return lambda q: self.cancel_export(path[len("/api/export/cancel/"):])
        if method == "GET" and path.startswith("/api/export/zip/"):
            return lambda q: self.download_export(path[len("/api/export/zip/"):])
        if method == "GET" and (path == "/api/sync" or re.match(r"^/api/[^/]+/sync$", path)):
            return self.sync
        return None

    # ---- admin
    def check_admin_key(self, query):
        # crates/local_backend/src/dashboard.rs check_admin_key @ 652b828: only DeploymentAdmin
        # (or ActingUser) passes; System and Unknown get 403 BadDeployKey.
        if self._identity() != "admin":
            raise HttpError(403, "BadDeployKey", BAD_DEPLOY_KEY_MESSAGE)
        self._json(200, {"success": True, "allowedOps": [], "isReadOnly": False})

    def deployment_info(self, query):
        self._require_admin()
        self._json(200, {"kind": "selfHosted"})

    # ---- environment variables
    def list_env(self, query):
        self._require_admin()
        with self.state.lock:
            self._json(200, {"environmentVariables": dict(self.state.env)})

    def update_env(self, query):
        # crates/local_backend/src/environment_variables.rs update_environment_variables and
        # crates/application/src/lib.rs Application::update_environment_variables @ 652b828.
        body = self._admin_json_body()
        changes = body.get("changes")
        if not isinstance(changes, list) or not all(
                isinstance(c, dict) and isinstance(c.get("name"), str) and isinstance(c.get("value"), (str, type(None)))
                for c in changes):
            # serde's rejection text is guessed; the code and status are read (extract.rs).
            raise HttpError(400, "BadJsonBody", "Failed to deserialize the JSON body into the target type: changes")
        # Each change is parsed in request order (EnvVarName / EnvVarValue FromStr,
        # crates/common/src/types/environment_variables.rs): the first bad one answers.
        for change in changes:
            name, value = change["name"], change.get("value")
            if not ENV_NAME_RE.match(name):
                raise HttpError(400, "EnvironmentVariableNameInvalid",
                                "The environment variable name %s is invalid. Environment variable names must begin "
                                "with a letter and may only include characters a-z, A-Z, 0-9, and underscores." % name)
            if len(name) > ENV_NAME_MAX:
                raise HttpError(400, "EnvironmentVariableNameTooLong",
                                "The environment variable name %s is too long. Environment variable names must be "
                                "less than %d." % (name, ENV_NAME_MAX))
            if value is not None and len(value.encode("utf-8")) > ENV_VALUE_MAX:
                raise HttpError(400, "EnvironmentVariableValueTooLarge",
                                "The environment variable value is %d bytes, which is too large. (max size: %d"
                                % (len(value.encode("utf-8")), ENV_VALUE_MAX))
        # env_var_changes.sort(): EnvVarChange orders every Unset before every Set, then by
        # (name, value). So duplicate names are accepted, a Set beats an Unset of the same name,
        # and among Sets of one name the greatest value (byte order) is applied last and wins.
        ordered = sorted(changes, key=lambda c: (c.get("value") is not None, c["name"].encode("utf-8"),
                                                 (c.get("value") or "").encode("utf-8")))
        with self.state.lock:
            env = dict(self.state.env)
            for change in ordered:
                name, value = change["name"], change.get("value")
                env.pop(name, None)
                if value is not None:
                    # EnvironmentVariablesModel::create (crates/model/src/environment_variables/mod.rs)
                    if name in BUILTIN_ENV:
                        raise HttpError(400, "EnvVarNameForbidden",
                                        "Environment variable with name \"%s\" is built-in and cannot be overridden" % name)
                    env[name] = value
            # The limits are checked on the result, inside the same transaction: nothing is kept.
            if len(env) > ENV_VAR_LIMIT:
                raise HttpError(400, "EnvVarLimitMet",
                                "The environment variable limit (%d) has been met." % ENV_VAR_LIMIT)
            total = sum(len(n.encode("utf-8")) + len(v.encode("utf-8")) for n, v in env.items())
            if total > ENV_VAR_TOTAL_SIZE_LIMIT:
                raise HttpError(400, "EnvVarTotalSizeLimitMet",
                                "The total size of all environment variables (%d bytes) exceeds the limit (%d bytes)."
                                % (total, ENV_VAR_TOTAL_SIZE_LIMIT))
            self.state.env_updates.append([c["name"] for c in changes])
            self.state.env.clear()
            self.state.env.update(env)
        self.state.bump()
        self._send(200, b"", "application/json")

    # ---- export
    def request_export(self, query):
        self._require_admin()
        include = query.get("includeStorage", "false") == "true"
        if self.state.start_export(include) is None:
            raise HttpError(400, "ExportInProgress", "There is already an export requested or in progress.")
        self._send(200, b"", "application/json")

    def download_export(self, ident):
        self._require_admin()
        doc = export_for_download(self.state, ident)
        size = os.path.getsize(doc["_path"])
        corrupt = "corrupt_export" in self.state.faults
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(size))
        self.send_header("Content-Disposition", "attachment; filename=snapshot_%s_%d.zip"
                         % (self.state.instance_name, int(doc["start_ts"])))
        self.end_headers()
        with open(doc["_path"], "rb") as handle:
            if corrupt:
                data = bytearray(handle.read())
                middle = len(data) // 2
                data[middle:middle + 64] = bytes(64)   # same size, broken content
                self.wfile.write(bytes(data))
            elif self.state.download_rate:
                started, sent = time.monotonic(), 0
                for block in iter(lambda: handle.read(256 * 1024), b""):
                    self.wfile.write(block)
                    sent += len(block)
                    time.sleep(max(0.0, started + sent / self.state.download_rate - time.monotonic()))
            else:
                shutil.copyfileobj(handle, self.wfile, 1024 * 1024)

    def cancel_export(self, ident):
        """POST /api/export/cancel/{snapshot_id} (crates/local_backend/src/router.rs,
        snapshot_export.rs cancel_export): 200 with an empty body. An unknown id or an export that
        already finished fails inside the backend with a plain anyhow error, which the HTTP layer
        turns into 500 InternalServerError (crates/common/src/http/mod.rs, errors/src/lib.rs)."""
        self._require_admin()
        if not self.state.cancel_export(ident):
            raise HttpError(500, "InternalServerError", "Your request couldn't be completed. Try again later.")
        self._send(200, b"", "application/json")

    # ---- import
    def start_upload(self, query):
        self._require_admin()
        token = str(uuid.uuid4())
        with self.state.lock:
            self.state.uploads[token] = {}
        self._json(200, {"uploadToken": token})

    def upload_part(self, query):
        self._require_admin()
        token, number = query.get("uploadToken"), query.get("partNumber")
        with self.state.lock:
            parts = self.state.uploads.get(token)
        if parts is None or number is None or not number.isdigit():
            raise HttpError(400, "InvalidUploadToken", "Unknown upload token or missing partNumber")
        data = self._body()
        part_token = base64.b64encode(hashlib.sha256(data).digest()[:12]).decode("ascii") + "-" + number
        with self.state.lock:
            parts[part_token] = (int(number), data)
        self._json(200, part_token)

    def finish_upload(self, query):
        body = self._admin_json_body()
        spec = body.get("import") or {}
        mode, fmt = spec.get("mode"), spec.get("format")
        if fmt not in IMPORT_FORMATS:
            raise HttpError(400, "InvalidImportFormat", "Unknown import format %r" % (fmt,))
        if mode not in IMPORT_MODES:
            raise HttpError(400, "InvalidImportMode", "Unknown import mode %r" % (mode,))
        with self.state.lock:
            parts = self.state.uploads.pop(body.get("uploadToken"), None)
        if parts is None:
            raise HttpError(400, "InvalidUploadToken", "Unknown upload token")
        try:
            data = b"".join(parts[t][1] for t in sorted(body.get("partTokens") or [], key=lambda t: parts[t][0]))
        except KeyError:
            raise HttpError(400, "InvalidPartToken", "Unknown part token")
        import_id = new_id()
        doc = {"_id": import_id, "_creationTime": time.time() * 1000.0, "state": {"state": "uploaded"},
               "format": {"format": "zip"}, "mode": {"requireEmpty": "RequireEmpty", "append": "Append"}.get(mode, "Replace"),
               "requestor": {"type": "snapshotImport"}, "checkpoints": None, "_data": data, "_data_mode": mode}
        with self.state.lock:
            self.state.imports[import_id] = doc
        self.state.bump()
        threading.Thread(target=self._parse_import, args=(doc,), daemon=True).start()
        self._json(200, {"importId": import_id})

    def _parse_import(self, doc):
        # crates/application/src/snapshot_import/mod.rs handle_uploaded_state and confirmation.rs
        # info_message_for_import / messages_to_confirm_replace @ 652b828.
        state = self.state
        if state.import_delay:
            time.sleep(state.import_delay)
        try:
            tables = read_snapshot_zip(doc["_data"])
        except ValueError:
            # crates/storage_zip_reader/src/lib.rs and snapshot_import/parse.rs map_zip_io_error:
            # ErrorMetadata InvalidZip "invalid zip file", wrapped by import_error.rs wrap_import_err.
            self._fail_parse(doc, "Hit an error while importing:\ninvalid zip file")
            return
        mode = doc["_data_mode"]
        with state.lock:
            changes = {}
            names = set(tables) | (set(state.tables) if mode == "replaceAll" else set())
            for name in sorted(names):
                existing = len(state.tables.get(name, []))
                if mode == "requireEmpty" and existing and name in tables:
                    # ImportError::TableExists; the error's own ErrorMetadata message is what the
                    # import's error_message holds (ErrorMetadataAnyhowExt::user_facing_message).
                    self._fail_parse(doc, "Table %s already exists. Please choose a new table name or use "
                                          "replace/append modes." % name)
                    return
                deleted = existing if mode in ("replace", "replaceAll") else 0
                changes[name] = (len(tables.get(name, [])), deleted, existing)
            if doc["state"]["state"] != "uploaded":
                return  # cancelled meanwhile: update_state refuses Failed -> WaitingForConfirmation
            doc["_data_tables"] = tables
            lines = render_table_changes(changes)
            if lines:
                lines.insert(0, "Import change summary:")
            lines.append("Once the import has started, it will run in the background.\n"
                         "Interrupting `npx convex import` will not cancel it.")
            # require_manual_confirmation is true only when some existing row would be deleted.
            doc["state"] = {"state": "waiting_for_confirmation", "message_to_confirm": "\n".join(lines),
                            "require_manual_confirmation": any(d > 0 for _a, d, _e in changes.values())}
        state.bump()

    def _fail_parse(self, doc, message):
        with self.state.lock:
            if doc["state"]["state"] == "uploaded":
                doc["state"] = {"state": "failed", "error_message": message}
        self.state.bump()

    def _import_for(self, body):
        """crates/local_backend/src/snapshot_import.rs perform_import / cancel_import @ 652b828:
        an id that does not decode is 400 InvalidImport; SnapshotImportModel::must_get
        (crates/model/src/snapshot_imports/mod.rs) answers 404 ImportNotFound for an unknown one."""
        import_id = body.get("importId")
        if not isinstance(import_id, str):  # text guessed (serde), code and status read
            raise HttpError(400, "BadJsonBody", "Failed to deserialize the JSON body into the target type: "
                            "missing field `importId`")
        if decode_document_id(import_id) is None:
            raise HttpError(400, "InvalidImport", "invalid import id %s" % import_id)
        doc = self.state.imports.get(import_id)
        if doc is None:
            raise HttpError(404, "ImportNotFound", "import %s not found" % import_id)
        return doc

    def perform_import(self, query):
        body = self._admin_json_body()
        with self.state.lock:
            doc = self._import_for(body)
            # SnapshotImportModel::confirm_import: only WaitingForConfirmation moves on; any other
            # state is a no-op with 200 (the dashboard may have confirmed it already).
            if doc["state"]["state"] != "waiting_for_confirmation":
                return self._send(200, b"", "application/json")
            doc["state"] = {"state": "in_progress", "progress_message": "Importing", "checkpoint_messages": []}
        self.state.bump()
        threading.Thread(target=self._apply_import, args=(doc,), daemon=True).start()
        self._send(200, b"", "application/json")

    def _apply_import(self, doc):
        state = self.state
        if "import_never_completes" in state.faults:
            return
        if state.import_delay:
            time.sleep(state.import_delay)
        tables, mode = doc["_data_tables"], doc["_data_mode"]
        with state.lock:
            if doc["state"]["state"] != "in_progress":
                return  # cancelled meanwhile (guessed: that a cancelled import writes nothing)
            if mode == "replaceAll":
                state.tables = {}
            written = 0
            for name, rows in tables.items():
                if mode in ("replace", "replaceAll") or name not in state.tables:
                    state.tables[name] = []
                state.tables[name].extend(rows)
                written += len(rows)
            doc["state"] = {"state": "completed", "timestamp": Int64(now_ns()), "num_rows_written": Int64(written)}
        state.bump()

    def cancel_import(self, query):
        body = self._admin_json_body()
        with self.state.lock:
            doc = self._import_for(body)
            # SnapshotImportModel::cancel_import: a finished import cannot be cancelled.
            current = doc["state"]["state"]
            if current in ("completed", "failed"):
                raise HttpError(400, "CannotCancelImport", "Cannot cancel an import that has %s" % current)
            doc["state"] = {"state": "failed", "error_message": "Import canceled"}
        self.state.bump()
        self._send(200, b"", "application/json")

    # ---- functions
    def run_query(self, query):
        # crates/local_backend/src/public_api.rs public_query_post @ 652b828: Json is extracted
        # before the handler authenticates; a function error is HTTP 200 {"status": "error"}.
        body = self._json_body()
        self._require_admin()
        fmt = body.get("format") or "json"
        args = body.get("args") or {}
        if isinstance(args, list):
            args = args[0] if args else {}
        try:
            value = system_query(self.state, body.get("path"), args)
        except LookupError as exc:
            return self._json(200, {"status": "error", "errorMessage": str(exc), "logLines": []})
        self._json(200, {"status": "success", "value": encode_value(value, fmt), "logLines": []})

    # ---- sync WebSocket
    def sync(self, query):
        if (self.headers.get("Upgrade") or "").lower() != "websocket":
            raise HttpError(400, "BadRequest", "Expected a WebSocket upgrade")
        accept = base64.b64encode(hashlib.sha1((self.headers["Sec-WebSocket-Key"] + WS_GUID).encode()).digest()).decode()
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        SyncSession(self.state, self.rfile, self.wfile).run()


def system_query(state, path, args):
    """The _system/cli queries, from the state. Raises LookupError for unknown ones."""
    path = (path or "").replace(".js", "")
    if path.endswith(":default"):
        path = path[:-len(":default")]
    if path == "_system/cli/exports:getLatest":
        return public_doc(state.latest_export())
    if path == "_system/cli/queryEnvironmentVariables":
        with state.lock:
            return state.env_docs()
    if path == "_system/cli/queryEnvironmentVariables:get":
        with state.lock:
            for doc in state.env_docs():
                if doc["name"] == args.get("name"):
                    return doc
        return None
    if path == "_system/cli/queryImport":
        doc = state.import_doc(args.get("importId"))
        if doc is None:
            raise LookupError("Invalid argument `importId` for `_system/cli/queryImport`: no such import")
        return doc
    if path == "_system/cli/queryImport:list":
        with state.lock:
            return [state.import_doc(i) for i in state.imports]
    raise LookupError("Could not find function for '%s'. The TEST STAND-IN implements only the _system/cli queries." % path)


class SyncSession(object):
    """The sync protocol (convex-js src/browser/sync/protocol.ts), as far as the CLI needs."""

    def __init__(self, state, rfile, wfile):
        self.state, self.rfile, self.wfile = state, rfile, wfile
        self.send_lock = threading.Lock()
        self.proto_lock = threading.Lock()
        self.query_set = 0
        self.identity = 0
        self.ts = 0  # the client starts from version {0, 0, 0}
        self.admin = False
        self.queries = {}   # queryId -> (udfPath, args, last encoded json)
        self.closed = False

    # ---- frames
    def _read_exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.rfile.read(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def _read_frame(self):
        head = self._read_exact(2)
        fin, opcode = head[0] & 0x80, head[0] & 0x0F
        masked, length = head[1] & 0x80, head[1] & 0x7F
        if length == 126:
            length = struct.unpack(">H", self._read_exact(2))[0]
        elif length == 127:
            length = struct.unpack(">Q", self._read_exact(8))[0]
        mask = self._read_exact(4) if masked else b"\x00\x00\x00\x00"
        payload = bytearray(self._read_exact(length))
        for i in range(length):
            payload[i] ^= mask[i % 4]
        return bool(fin), opcode, bytes(payload)

    def _send_frame(self, opcode, payload):
        head = bytearray([0x80 | opcode])
        if len(payload) < 126:
            head.append(len(payload))
        elif len(payload) < 65536:
            head += bytes([126]) + struct.pack(">H", len(payload))
        else:
            head += bytes([127]) + struct.pack(">Q", len(payload))
        with self.send_lock:
            self.wfile.write(bytes(head) + payload)
            self.wfile.flush()

    def send(self, message):
        self._send_frame(0x1, json.dumps(message).encode("utf-8"))

    # ---- protocol
    def _version(self):
        return {"querySet": self.query_set, "ts": u64_b64(self.ts), "identity": self.identity}

    def _evaluate(self, query_id):
        udf_path, args, _last = self.queries[query_id]
        if not self.admin:
            return {"type": "QueryFailed", "queryId": query_id, "errorMessage":
                    "Unauthorized: %s requires an admin key" % udf_path, "logLines": [], "errorData": None, "journal": None}
        try:
            value = encode_value(system_query(self.state, udf_path, args), "convex_encoded_json")
        except LookupError as exc:
            return {"type": "QueryFailed", "queryId": query_id, "errorMessage": str(exc), "logLines": [],
                    "errorData": None, "journal": None}
        return {"type": "QueryUpdated", "queryId": query_id, "value": value, "logLines": [], "journal": None}

    def _transition(self, modifications, query_set=None, identity=None):
        start = self._version()
        self.ts = max(self.ts + 1, now_ns())
        if query_set is not None:
            self.query_set = query_set
        if identity is not None:
            self.identity = identity
        self.send({"type": "Transition", "startVersion": start, "endVersion": self._version(),
                   "modifications": modifications})

    def _handle(self, message):
        kind = message.get("type")
        if kind == "Connect":
            return
        if kind == "Authenticate":
            base = int(message.get("baseVersion", 0))
            if message.get("tokenType") == "Admin":
                if not key_is_admin(message.get("value"), self.state.instance_name, self.state.secret):
                    self.send({"type": "AuthError", "error": "The provided admin key was invalid for this instance",
                               "baseVersion": base, "authUpdateAttempted": True})
                    return
                self.admin = True
            else:
                self.admin = False
            mods = [self._evaluate(q) for q in self.queries]
            self._remember(mods)
            self._transition(mods, identity=base + 1)
            return
        if kind == "ModifyQuerySet":
            mods = []
            for change in message.get("modifications", []):
                if change.get("type") == "Add":
                    args = change.get("args") or [{}]
                    self.queries[change["queryId"]] = (change.get("udfPath"), args[0] if args else {}, None)
                    mods.append(self._evaluate(change["queryId"]))
                elif change.get("type") == "Remove":
                    self.queries.pop(change.get("queryId"), None)
                    mods.append({"type": "QueryRemoved", "queryId": change.get("queryId")})
            self._remember(mods)
            self._transition(mods, query_set=int(message.get("newVersion", self.query_set + 1)))
            return
        if kind in ("Mutation", "Action"):
            self.send({"type": kind + "Response", "requestId": message.get("requestId"), "success": False,
                       "result": "The TEST STAND-IN does not run functions", "logLines": []})

    def _remember(self, mods):
        for mod in mods:
            query_id = mod.get("queryId")
            if query_id in self.queries and mod["type"] != "QueryRemoved":
                udf_path, args, _last = self.queries[query_id]
                self.queries[query_id] = (udf_path, args, json.dumps(mod, sort_keys=True))

    def _pusher(self):
        generation = self.state.generation
        while not self.closed:
            with self.state.changed:
                self.state.changed.wait_for(lambda: self.state.generation != generation or self.closed, timeout=5)
                generation = self.state.generation
            if self.closed:
                return
            try:
                with self.proto_lock:
                    mods = []
                    for query_id in list(self.queries):
                        mod = self._evaluate(query_id)
                        if json.dumps(mod, sort_keys=True) != self.queries[query_id][2]:
                            mods.append(mod)
                    if mods:
                        self._remember(mods)
                        self._transition(mods)
                    else:
                        self.send({"type": "Ping"})
            except (OSError, KeyError, ValueError):
                self.closed = True

    def run(self):
        pusher = threading.Thread(target=self._pusher, daemon=True)
        pusher.start()
        buffered = b""
        try:
            while not self.closed:
                fin, opcode, payload = self._read_frame()
                if opcode == 0x8:
                    self._send_frame(0x8, payload[:2])
                    break
                if opcode == 0x9:
                    self._send_frame(0xA, payload)
                    continue
                if opcode in (0x1, 0x0):
                    buffered += payload
                    if fin:
                        message, buffered = json.loads(buffered.decode("utf-8")), b""
                        with self.proto_lock:
                            self._handle(message)
        except (EOFError, OSError, ValueError):
            pass
        finally:
            self.closed = True
            with self.state.changed:
                self.state.changed.notify_all()


# ---------------------------------------------------------------------------- servers
class StandinServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, role, state, verbose=False):
        handler = type("Handler_" + role, (Handler,), {"role": role})
        super(StandinServer, self).__init__(address, handler)
        self.state = state
        self.verbose = verbose


class ConvexStandin(object):
    """Start the stand-in in this process (tests and benchmarks).

        standin = ConvexStandin("joelclaw", secret_hex).start()
        standin.url, standin.site_url, standin.dashboard_url, standin.state
        standin.stop()
    """

    def __init__(self, instance_name, instance_secret, host="127.0.0.1", port=0, site_port=None,
                 dashboard_port=None, version="unknown", verbose=False, **state_options):
        self.state = StandinState(instance_name, instance_secret, version=version, **state_options)
        self.host = host
        self.servers = [StandinServer((host, port), "api", self.state, verbose)]
        if site_port is not None:
            self.servers.append(StandinServer((host, site_port), "site", self.state, verbose))
        if dashboard_port is not None:
            self.servers.append(StandinServer((host, dashboard_port), "dashboard", self.state, verbose))
        self.threads = []

    def _url(self, role):
        for server in self.servers:
            if server.RequestHandlerClass.role == role:
                return "http://%s:%d" % (self.host, server.server_address[1])
        return None

    @property
    def url(self):
        return self._url("api")

    @property
    def site_url(self):
        return self._url("site")

    @property
    def dashboard_url(self):
        return self._url("dashboard")

    def admin_key(self, **kwargs):
        return make_admin_key(self.state.instance_name, self.state.secret.hex(), **kwargs)

    def start(self):
        for server in self.servers:
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def stop(self):
        for server in self.servers:
            server.shutdown()
            server.server_close()
        shutil.rmtree(self.state.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def random_rows(megabytes, row_bytes=4096):
    """Rows of base64 random data: they deflate to about 3/4, like already-compressed content."""
    count = max(1, int(megabytes * 1e6 / row_bytes))
    return [{"_id": "b%08d" % i, "_creationTime": 1.7e12 + i,
             "blob": base64.b64encode(os.urandom(row_bytes * 3 // 4)).decode("ascii")} for i in range(count)]


def main(argv=None):
    parser = argparse.ArgumentParser(description="TEST STAND-IN for a self-hosted Convex backend (not Convex).")
    parser.add_argument("--host", default=os.environ.get("STANDIN_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3210")))
    parser.add_argument("--site-port", type=int, default=int(os.environ["SITE_PROXY_PORT"]) if os.environ.get("SITE_PROXY_PORT") else None)
    parser.add_argument("--dashboard-port", type=int, default=int(os.environ["DASHBOARD_PORT"]) if os.environ.get("DASHBOARD_PORT") else None)
    parser.add_argument("--instance-name", default=os.environ.get("INSTANCE_NAME", "convex-self-hosted"))
    parser.add_argument("--instance-secret", default=os.environ.get("INSTANCE_SECRET"),
                        help="64 hex characters; default: env INSTANCE_SECRET")
    parser.add_argument("--version-string", default=os.environ.get("CONVEX_RELEASE_VERSION_DEV", "unknown"))
    parser.add_argument("--print-admin-key", action="store_true", help="print an admin key for this instance and exit")
    parser.add_argument("--seed-random-mb", type=float, default=0,
                        help="benchmarks: fill table 'bench' with about this many MB of incompressible rows")
    parser.add_argument("--download-rate-mb", type=float, default=0,
                        help="benchmarks: serve export downloads at this many MB/s (a slower link than loopback)")
    parser.add_argument("--export-cache", action="store_true",
                        help="benchmarks: reuse the previous export ZIP while the tables are unchanged")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    if not args.instance_secret or not re.match(r"^[0-9a-fA-F]{64}$", args.instance_secret.strip()):
        parser.error("--instance-secret (or INSTANCE_SECRET) must be 64 hex characters")
    secret = args.instance_secret.strip()
    if args.print_admin_key:
        print(make_admin_key(args.instance_name, secret))
        return 0
    standin = ConvexStandin(args.instance_name, secret, host=args.host, port=args.port, site_port=args.site_port,
                            dashboard_port=args.dashboard_port, version=args.version_string, verbose=args.verbose,
                            export_cache=args.export_cache)
    if args.seed_random_mb:
        standin.state.tables["bench"] = random_rows(args.seed_random_mb)
    standin.state.download_rate = args.download_rate_mb * 1e6
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    standin.start()
    sys.stderr.write("convex-standin (TEST STAND-IN) instance %s listening on %s\n" % (args.instance_name, standin.url))
    sys.stderr.flush()
    stop.wait()
    standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
