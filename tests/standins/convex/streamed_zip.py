# -*- coding: utf-8 -*-
# Copyright: joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""TEST STAND-IN: a ZIP writer that lays out bytes the way the Convex backend's exports are written.

Not a general ZIP writer and deliberately not Python's zipfile: the backend streams every export
with async_zip, and this module reproduces that writer's bytes so the collection's verifier is
tested against the real layout.

Read from upstream:
* get-convex/convex-backend @ 94a42c3 (main) and 652b828 (release tip), crates/exports/src/
  zip_uploader.rs: ``ZipFileWriter::with_tokio``; every member (README.md, documents.jsonl,
  generated_schema.jsonl, _storage files) goes through ``write_entry_stream`` with
  ``Compression::Deflate`` and ``unix_permissions(0o644)``. Cargo.toml/Cargo.lock pin
  async_zip 0.0.18 (features deflate, tokio, zstd).
* Majored/rs-async-zip @ v0.0.18 (95545ed), src/base/write/entry_stream.rs (``write_lfh``,
  ``close``), src/base/write/mod.rs (``ZipFileWriter::close``), src/spec/parse.rs (field order),
  src/spec/extra_field.rs (zip64 extra: uncompressed, compressed, offset), src/spec/version.rs
  (made by 3<<8|63, needed 20 for Deflate), src/entry/mod.rs (``ZipDateTime::default()``, i.e. DOS
  time and date 0; empty comment, so bit 11 (UTF-8) is set for UTF-8 names).

What that gives, per member:
* local header: flags 0x0808 (bit 3 data descriptor, bit 11 UTF-8), CRC 0, both sizes 0xFFFFFFFF,
  then a zip64 extra field (id 1, 16 bytes) whose two sizes are 0;
* raw Deflate data (async-compression's DeflateEncoder at the default level);
* a 16-byte data descriptor: ``PK\\x07\\x08``, the CRC-32, then 0xFFFFFFFF as both sizes;
* a central directory header with sizes and offset 0xFFFFFFFF and a zip64 extra (id 1, 24 bytes):
  uncompressed size, compressed size, local header offset.
And at the end: the zip64 end of central directory record (size 44, made by 0x033F, needed 46),
the zip64 locator (one disk), then the classic end record with the real counts, size and offset
(0xFFFF / 0xFFFFFFFF only when they overflow).
"""

from __future__ import annotations

import struct
import zlib

LOCAL, DESCRIPTOR, CENTRAL = b"PK\x03\x04", b"PK\x07\x08", b"PK\x01\x02"
ZIP64_END, ZIP64_LOCATOR, END = b"PK\x06\x06", b"PK\x06\x07", b"PK\x05\x06"
UNKNOWN32 = 0xFFFFFFFF
MADE_BY = 3 << 8 | 63        # src/spec/version.rs as_made_by(): UNIX, spec 6.3
NEEDED_DEFLATE = 20          # src/spec/version.rs as_needed_to_extract(): Deflate
FLAGS = 0x0008 | 0x0800      # src/spec/parse.rs GeneralPurposeFlag: data descriptor, UTF-8 name
PERMISSIONS = 0o644          # crates/exports/src/zip_uploader.rs ZIP_ENTRY_PERMISSIONS
DEFLATE_LEVEL = 6            # async-compression Level::Default (flate2's default)


class _Counted(object):
    """Counts the bytes written to a file object (async_zip's AsyncOffsetWriter)."""

    def __init__(self, out):
        self.out, self.offset = out, 0

    def write(self, data):
        self.out.write(data)
        self.offset += len(data)


def _deflate_in_chunks(data, chunk=64 * 1024):
    """Raw Deflate, fed in chunks as the backend streams documents into an entry."""
    encoder = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -15)
    return b"".join([encoder.compress(data[i:i + chunk]) for i in range(0, len(data), chunk)] + [encoder.flush()])


def write_streamed_zip(out, entries, deflate=None):
    """Write entries, an iterable of (name, bytes), to the binary file object out.

    deflate(data) returns a member's raw Deflate stream (default: zlib, level 6); the tests give
    the streams of an archive the real async_zip wrote, to compare every other byte with it.
    Returns the number of bytes written.
    """
    deflate = deflate or _deflate_in_chunks
    target = _Counted(out)
    directory = []
    for name, data in entries:
        raw_name = name.encode("utf-8")
        offset = target.offset
        # write_lfh: the zip64 extra field is always there, with the entry's sizes, still 0.
        extra = struct.pack("<HHQQ", 0x0001, 16, 0, 0)
        target.write(LOCAL + struct.pack("<5H3L2H", NEEDED_DEFLATE, FLAGS, 8, 0, 0, 0, UNKNOWN32, UNKNOWN32,
                                         len(raw_name), len(extra)))
        target.write(raw_name + extra)
        start = target.offset
        crc = zlib.crc32(data)
        target.write(deflate(data))
        compressed = target.offset - start
        # close(): a 16-byte descriptor whose sizes say "see the zip64 field in the directory".
        target.write(DESCRIPTOR + struct.pack("<3L", crc, UNKNOWN32, UNKNOWN32))
        directory.append((raw_name, crc, compressed, len(data), offset))
    cd_offset = target.offset
    for raw_name, crc, compressed, size, offset in directory:
        extra = struct.pack("<HHQQQ", 0x0001, 24, size, compressed, offset)
        target.write(CENTRAL + struct.pack("<6H3L5H2L", MADE_BY, NEEDED_DEFLATE, FLAGS, 8, 0, 0, crc,
                                           UNKNOWN32, UNKNOWN32, len(raw_name), len(extra), 0, 0, 0,
                                           PERMISSIONS << 16, UNKNOWN32))
        target.write(raw_name + extra)
    cd_size = target.offset - cd_offset
    count = len(directory)
    zip64_offset = target.offset
    target.write(ZIP64_END + struct.pack("<Q2H2L4Q", 44, MADE_BY, 46, 0, 0, count, count, cd_size, cd_offset))
    target.write(ZIP64_LOCATOR + struct.pack("<LQL", 0, zip64_offset, 1))
    target.write(END + struct.pack("<4H2LH", 0, 0, min(count, 0xFFFF), min(count, 0xFFFF),
                                   min(cd_size, UNKNOWN32), min(cd_offset, UNKNOWN32), 0))
    return target.offset
