# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one reader of the Convex CLI env file follows dotenv.parse, which the convex CLI uses."""
from __future__ import annotations

import pytest

from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_env_file as env_file

SAMPLE = """# Managed by hand
export CONVEX_SELF_HOSTED_URL="https://convex.example.ts.net"   # trailing comment
export   CONVEX_SELF_HOSTED_ADMIN_KEY='joelclaw|01abc#notacomment'
  SPACED = value with spaces  \n\
UNQUOTED=abc#comment
EMPTY=
COLON: yes
DQ="line1\\nline2"
SQ='keep\\nas is'
BT=`back`
MULTI="a
b"
#COMMENTED=1
junk line without equals
DUP=first
DUP=second
dotted.name-x=1
"""
# What dotenv 16.4.7's parse() returned for SAMPLE (npm dotenv@16.4.7 on node 20.20.2, run on
# 2026-12-02 while writing this test; the convex CLI 1.45.0 asks for dotenv ^16.4.7).
DOTENV_16_4_7 = {
    "CONVEX_SELF_HOSTED_URL": "https://convex.example.ts.net",
    "CONVEX_SELF_HOSTED_ADMIN_KEY": "joelclaw|01abc#notacomment",
    "SPACED": "value with spaces", "UNQUOTED": "abc", "EMPTY": "", "COLON": "yes",
    "DQ": "line1\nline2", "SQ": "keep\\nas is", "BT": "back", "MULTI": "a\nb", "DUP": "second",
    "dotted.name-x": "1",
}


def test_parse_agrees_with_dotenv():
    assert env_file.parse(SAMPLE) == DOTENV_16_4_7


def test_crlf_files_read_the_same():
    assert env_file.parse(SAMPLE.replace("\n", "\r\n")) == DOTENV_16_4_7


def test_admin_key_of_a_file_with_export_lines_quotes_and_comments(tmp_path):
    path = tmp_path / "convex.env"
    path.write_text('# by hand\nexport CONVEX_SELF_HOSTED_ADMIN_KEY="joelclaw|0a1b"  # rotated\n')
    assert env_file.admin_key(str(path)) == "joelclaw|0a1b"


@pytest.mark.parametrize("text", ["OTHER=1\n", "CONVEX_SELF_HOSTED_ADMIN_KEY=\n", "#CONVEX_SELF_HOSTED_ADMIN_KEY=x\n"])
def test_no_usable_key_is_none(tmp_path, text):
    path = tmp_path / "convex.env"
    path.write_text(text)
    assert env_file.admin_key(str(path)) is None


def test_missing_file(tmp_path):
    assert env_file.read(str(tmp_path / "nope")) == (None, None)
    with pytest.raises(FileNotFoundError):
        env_file.admin_key(str(tmp_path / "nope"))
