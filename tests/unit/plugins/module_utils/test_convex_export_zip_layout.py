# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The export ZIPs the Convex backend really writes (async_zip 0.0.18, streamed): the download
verifier accepts them and still finds every kind of damage in them."""
from __future__ import annotations

import io
import os
import struct
import zipfile

import pytest

import streamed_zip

from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_client import ConvexError
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_snapshot import download_export, verify_zip

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "async_zip_0_0_18", "export.zip")
ENTRIES = [
    ("README.md", b"# Welcome to your Convex snapshot export!\n"),
    ("_tables/documents.jsonl", b'{"name":"messages","id":10001}\n'),
    ("messages/documents.jsonl", b"".join(b'{"_id":"m%05d","body":"%s"}\n' % (i, os.urandom(40).hex().encode())
                                          for i in range(4000))),
    ("messages/generated_schema.jsonl", b'"uniform"\n'),
]


def golden():
    with open(GOLDEN, "rb") as handle:
        return handle.read()


def streamed(entries=None):
    out = io.BytesIO()
    streamed_zip.write_streamed_zip(out, ENTRIES if entries is None else entries)
    return out.getvalue()


class Response(io.BytesIO):
    """What ConvexClient.open_export returns: a readable body with headers."""

    def __init__(self, data, length=True):
        super(Response, self).__init__(data)
        self.headers = {"Content-Disposition": "attachment; filename=snapshot_joelclaw_1.zip"}
        if length:
            self.headers["Content-Length"] = str(len(data))


class Client(object):
    timeout = 5.0

    def __init__(self, data, length=True):
        self.data, self.length = data, length

    def open_export(self, start_ts, timeout=None):
        return Response(self.data, self.length)


def download(tmp_path, data, length=True):
    return download_export(Client(bytes(data), length), 1, str(tmp_path))


def member_offsets(data):
    """{name: (local header offset, data offset, compressed size)} read with zipfile."""
    result = {}
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        for info in archive.infolist():
            nlen, xlen = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
            result[info.filename] = (info.header_offset, info.header_offset + 30 + nlen + xlen, info.compress_size)
    return result


# ------------------------------------------------------------------ the real layout is accepted
def test_the_real_async_zip_archive_has_the_layout_the_errata_describe():
    data = golden()
    first = member_offsets(data)["README.md"]
    flags, _method = struct.unpack("<HH", data[6:10])
    extra = data[first[1] - 20:first[1]]
    assert flags & 0x08 and struct.unpack("<HHQQ", extra) == (1, 16, 0, 0)
    # every member ends in a 16-byte descriptor whose sizes are 0xFFFFFFFF
    descriptor = data[first[1] + first[2]:first[1] + first[2] + 16]
    assert descriptor[:4] == b"PK\x07\x08" and descriptor[8:] == b"\xff" * 8
    assert data[first[1] + first[2] + 16:first[1] + first[2] + 20] == b"PK\x03\x04"
    assert b"PK\x06\x06" in data[-98:] and b"PK\x06\x07" in data[-42:] and data[-22:-18] == b"PK\x05\x06"


def test_the_real_async_zip_archive_is_accepted(tmp_path):
    result = download(tmp_path, golden())
    assert result["tables"] == ["messages", "users"]
    assert result["size"] == len(golden()) and os.path.exists(result["path"])


def test_the_real_archive_is_accepted_without_a_content_length(tmp_path):
    assert download(tmp_path, golden(), length=False)["tables"] == ["messages", "users"]


def test_the_standin_writer_lays_out_the_same_bytes_as_async_zip():
    """Same members, same Deflate streams: the archives must be identical byte for byte."""
    real = golden()
    offsets = member_offsets(real)
    entries, streams = [], []
    with zipfile.ZipFile(io.BytesIO(real)) as archive:
        for info in archive.infolist():
            entries.append((info.filename, archive.read(info)))
            _lfh, start, size = offsets[info.filename]
            streams.append(real[start:start + size])
    out = io.BytesIO()
    replay = iter(streams)
    streamed_zip.write_streamed_zip(out, entries, deflate=lambda data: next(replay))
    assert out.getvalue() == real


def test_zipfile_reads_what_the_standin_writer_writes():
    with zipfile.ZipFile(io.BytesIO(streamed())) as archive:
        assert archive.testzip() is None
        assert [(i.filename, archive.read(i)) for i in archive.infolist()] == ENTRIES


def test_the_standin_layout_is_accepted(tmp_path):
    assert download(tmp_path, streamed())["tables"] == ["messages"]


# ------------------------------------------------------------------ damage is still found
def expect_corrupt(tmp_path, data, words):
    with pytest.raises(ConvexError) as exc:
        download(tmp_path, data)
    assert exc.value.kind == "malformed" and "corrupt" in exc.value.message
    assert any(w in exc.value.message for w in words), exc.value.message
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("source", [golden, streamed])
def test_a_flipped_byte_is_found(tmp_path, source):
    data = bytearray(source())
    _lfh, start, size = member_offsets(data)["messages/documents.jsonl"]
    data[start + size // 2] ^= 0x01
    expect_corrupt(tmp_path, data, ["messages/documents.jsonl"])


@pytest.mark.parametrize("source", [golden, streamed])
def test_a_truncated_member_is_found(tmp_path, source):
    data = source()
    _lfh, start, size = member_offsets(data)["messages/documents.jsonl"]
    expect_corrupt(tmp_path, data[:start + size // 2], ["truncated", "ends"])


@pytest.mark.parametrize("source", [golden, streamed])
def test_a_member_cut_short_inside_the_archive_is_found(tmp_path, source):
    """Bytes missing in the middle (the rest of the archive follows): the offsets no longer agree."""
    data = source()
    _lfh, start, size = member_offsets(data)["messages/documents.jsonl"]
    expect_corrupt(tmp_path, data[:start + 100] + data[start + 400:], ["messages/documents.jsonl"])


@pytest.mark.parametrize("source", [golden, streamed])
def test_a_wrong_crc_in_the_descriptor_is_found(tmp_path, source):
    data = bytearray(source())
    _lfh, start, size = member_offsets(data)["messages/documents.jsonl"]
    assert data[start + size:start + size + 4] == b"PK\x07\x08"
    data[start + size + 4] ^= 0xFF
    expect_corrupt(tmp_path, data, ["CRC"])


@pytest.mark.parametrize("source", [golden, streamed])
def test_a_wrong_crc_in_the_central_directory_is_found(tmp_path, source):
    data = bytearray(source())
    name = b"messages/documents.jsonl"
    central = data.index(name, data.index(b"PK\x01\x02")) - 46
    assert data[central:central + 4] == b"PK\x01\x02"
    data[central + 16] ^= 0xFF
    expect_corrupt(tmp_path, data, ["CRC"])


def test_a_missing_tables_index_is_found(tmp_path):
    data = streamed([e for e in ENTRIES if e[0] != "_tables/documents.jsonl"])
    expect_corrupt(tmp_path, data, ["_tables/documents.jsonl"])


def test_a_table_listed_without_its_documents_is_found(tmp_path):
    data = streamed([e for e in ENTRIES if e[0] != "messages/documents.jsonl"])
    expect_corrupt(tmp_path, data, ["messages"])


def test_verify_zip_reads_the_real_layout_from_disk(tmp_path):
    path = tmp_path / "x.zip"
    path.write_bytes(golden())
    assert verify_zip(str(path)) == ["messages", "users"]
