# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The streaming CRC check that runs while an export downloads."""
from __future__ import annotations

import io
import os
import zipfile

import pytest

from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_snapshot import StreamingZipCheck, verify_zip


class Unseekable(io.RawIOBase):
    """A write-only stream: zipfile then writes data descriptors, as streaming servers do."""

    def __init__(self):
        super(Unseekable, self).__init__()
        self.data = bytearray()

    def writable(self):
        return True

    def write(self, b):
        self.data += b
        return len(b)


def build(seekable=True, stored_member=False):
    target = io.BytesIO() if seekable else Unseekable()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("_tables/documents.jsonl", '{"name": "t", "id": 1}\n')
        archive.writestr("t/documents.jsonl", ("x" * 100 + os.urandom(50).hex() + "\n") * 3000)
        if stored_member:
            archive.writestr("_storage/blob", os.urandom(5000), compress_type=zipfile.ZIP_STORED)
    return bytes(target.getvalue() if seekable else target.data)


def feed(data, size=777):
    check = StreamingZipCheck()
    for i in range(0, len(data), size):
        check.feed(data[i:i + size])
    check.finish()
    return check


@pytest.mark.parametrize("seekable", [True, False])
def test_every_member_is_checked_while_streaming(seekable):
    check = feed(build(seekable=seekable))
    assert check.error is None and check.unchecked == []
    assert check.checked == ["_tables/documents.jsonl", "t/documents.jsonl"]


@pytest.mark.parametrize("seekable", [True, False])
def test_corruption_is_found_while_streaming(seekable):
    data = bytearray(build(seekable=seekable))
    data[len(data) // 3:len(data) // 3 + 16] = bytes(16)
    check = feed(bytes(data))
    assert check.error is not None


def test_stored_member_behind_a_descriptor_is_left_for_afterwards(tmp_path):
    data = build(seekable=False, stored_member=True)
    check = feed(data)
    assert check.error is None and check.unchecked == ["_storage/blob"]
    path = tmp_path / "x.zip"
    path.write_bytes(data)
    assert verify_zip(str(path), checked=check.checked) == ["t"]


def test_verify_zip_still_checks_members_not_streamed(tmp_path):
    data = bytearray(build())
    data[len(data) // 2:len(data) // 2 + 16] = bytes(16)
    path = tmp_path / "x.zip"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError):
        verify_zip(str(path), checked=["_tables/documents.jsonl"])
