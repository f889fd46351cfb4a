# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Conventions every role follows (issue 13, "Names that explain themselves"), read from the files.

* One spelling for task files: words joined by underscores (setup_Darwin.yml), never hyphens, and
  every include_tasks / import_tasks / tasks_from in the repository names a file that exists.
"""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p for p in (ROOT / "roles").iterdir() if (p / "tasks").is_dir())
TASK_FILE = re.compile(r"^[A-Za-z0-9_]+\.yml$")
# include_tasks: x.yml, import_tasks: "x.yml", tasks_from: x.yml, tasks_from="x.yml" (tests).
INCLUDE = re.compile(r"""(?:include_tasks|import_tasks|tasks_from)\s*[:=]\s*["']?((?:[^"'\s{]|\{\{.*?\}\})+\.yml)""")
SEARCHED = ("roles", "playbooks", "molecule", "tests", "site.yml")


def test_task_files_are_spelled_with_underscores():
    files = [p for role in ROLES for p in (role / "tasks").glob("*.yml")]
    assert len(files) > 20
    bad = [str(p.relative_to(ROOT)) for p in files if not TASK_FILE.match(p.name)]
    assert not bad, "task files must use underscores, not hyphens: %s" % bad


def test_every_included_task_file_exists():
    names = {p.name for role in ROLES for p in (role / "tasks").glob("*.yml")}
    seen = []
    for top in SEARCHED:
        base = ROOT / top
        for path in [base] if base.is_file() else sorted(base.rglob("*")):
            if path.suffix not in (".yml", ".py") or "output" in path.parts or path == Path(__file__):
                continue
            for ref in INCLUDE.findall(path.read_text(errors="replace")):
                # A templated name ("setup_{{ ansible_facts['system'] }}.yml") must exist for both systems.
                refs = [ref.replace(ref[ref.index("{{"):ref.rindex("}}") + 2], osname) for osname in ("Darwin", "Linux")] \
                    if "{{" in ref else [ref]
                seen += [(str(path.relative_to(ROOT)), r) for r in refs]
    assert len(seen) > 10 and any("{{" in line for line in INCLUDE.findall((ROOT / "roles/caddy_tailscale/tasks/main.yml").read_text()))
    missing = [(where, ref) for where, ref in seen if Path(ref).name not in names]
    assert not missing, missing
