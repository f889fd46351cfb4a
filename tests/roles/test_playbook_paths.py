# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the playbooks put and look for things, with variables set the way users set them.

Every path the collection uses derives from convex_state_dir, which is <home>/.joelclaw from the
user_dir fact (group_vars/all/main.yml). A play that ran without facts used to fall back silently
to /var/lib/joelclaw/.joelclaw: upgrade.yml then looked for the kubeconfig, the admin env file and
the instance secret in the wrong place. The tests here read the variables from an inventory
directory (the repository's group_vars plus a host_vars file), never from extra vars, which beat
every other source and hid that bug.

The user_dir fact is the home directory in the password database (ansible-core
lib/ansible/module_utils/facts/system/user.py reads pwd), so to give the real setup module a private
home the playbooks run in a mount namespace where /etc/passwd names a temporary one. The playbooks
end to end with no path set (converge, upgrade.yml, restore.yml, backup.yml, health.yml against the
real kube-apiserver of k8s_harness.py and the Convex stand-in) are the applied flow of
test_convex_backend_apply.py, which runs them in that namespace: one converge and one upgrade for both.
"""
from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from playbook_runner import ROOT, ansible_playbook_with_inventory, write_inventory

PLAYBOOKS = ROOT / "playbooks"


# ---------------------------------------------------------------- no silent fact fallbacks
FACT_FALLBACK = re.compile(r"(ansible_facts\[[^]]+\](\[[^]]+\])*|ansible_env[\w.\[\]'\"]*|ansible_user_dir|ansible_user_id)"
                           r"\s*\|\s*default\(")


def yaml_and_templates():
    for top in ("group_vars", "inventory", "playbooks", "roles", "molecule"):
        for path in sorted((ROOT / top).rglob("*")):
            if path.suffix in (".yml", ".yaml", ".j2") and path.is_file():
                yield path
    yield ROOT / "site.yml"


def test_no_fact_has_a_silent_fallback():
    """A fact that is missing must stop the play, not be replaced by another directory or user."""
    found = []
    for path in yaml_and_templates():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if FACT_FALLBACK.search(line):
                found.append("%s:%d: %s" % (path.relative_to(ROOT), number, line.strip()))
    assert not found, "\n".join(found)


def plays_of(path):
    """The plays of a playbook in run order, imported playbooks (import_playbook) inlined."""
    plays = []
    for play in yaml.safe_load(path.read_text()):
        imported = play.get("import_playbook", play.get("ansible.builtin.import_playbook"))
        plays += plays_of(path.parent / imported) if imported else [play]
    return plays


def test_every_playbook_gathers_facts():
    """convex_state_dir needs the user_dir fact, so no playbook may run without facts: a play gathers
    them at its start, an earlier play of the same playbook did for the same hosts, or (to check its
    settings before it touches the host) it runs ansible.builtin.setup after nothing but checks."""
    for path in [ROOT / "site.yml", *sorted(PLAYBOOKS.glob("*.yml"))]:
        gathered = set()   # hosts an earlier play of the same run gathered facts for (facts persist)
        for play in plays_of(path):
            if play.get("gather_facts", True) is True:
                gathered.add(play["hosts"])
                continue
            if play["hosts"] in gathered:
                continue
            tasks = play.get("tasks", [])
            setup = [i for i, task in enumerate(tasks) if "ansible.builtin.setup" in task]
            assert setup, "%s: %s gathers no facts" % (path.name, play["name"])
            gathered.add(play["hosts"])
            before = tasks[:setup[0]]
            assert all(set(task) & {"ansible.builtin.assert", "ansible.builtin.fail"} for task in before), (
                "%s: %s runs %s before it gathers facts" % (path.name, play["name"], [t.get("name") for t in before]))


# ---------------------------------------------------------------- a private home for the fact
def namespace_prefix(home: Path, workdir: Path) -> tuple:
    """A command prefix that runs the command with `home` as this user's home in /etc/passwd."""
    entry = pwd.getpwuid(os.getuid())
    passwd = workdir / "passwd"
    lines = []
    for line in Path("/etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if len(fields) == 7 and fields[0] == entry.pw_name:
            fields[5] = str(home)
        lines.append(":".join(fields))
    passwd.write_text("\n".join(lines) + "\n")
    return ("unshare", "--mount", "--propagation", "private", "sh", "-c",
            'mount --bind "$0" /etc/passwd && exec "$@"', str(passwd))


def can_remap_home():
    if not shutil.which("unshare") or os.getuid() != 0:
        return False
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True, check=False)
    return probe.returncode == 0


needs_namespace = pytest.mark.skipif(not can_remap_home(), reason="needs root and unshare --mount for a private home")


@needs_namespace
def test_the_namespace_really_changes_the_user_dir_fact(tmp_path):
    """The premise of the tests below: the real setup module reports the private home."""
    home = tmp_path / "home"
    home.mkdir()
    inventory = write_inventory(tmp_path, {})
    play = tmp_path / "facts.yml"
    play.write_text("- hosts: macmini\n  gather_facts: true\n  gather_subset: [min]\n"
                    "  roles: [joelclaw.macmini.contract]\n  tasks:\n"
                    "    - ansible.builtin.debug:\n        msg: 'state dir is {{ convex_state_dir }}'\n")
    run = ansible_playbook_with_inventory(tmp_path / "run", play, inventory, prefix=namespace_prefix(home, tmp_path))
    assert run.rc == 0, run.output
    assert "state dir is %s/.joelclaw" % home in run.stdout


@needs_namespace
def test_a_play_without_facts_stops_instead_of_guessing(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    inventory = write_inventory(tmp_path, {})
    play = tmp_path / "nofacts.yml"
    play.write_text("- hosts: macmini\n  gather_facts: false\n  roles: [joelclaw.macmini.contract]\n  tasks:\n"
                    "    - ansible.builtin.debug:\n        msg: 'kubeconfig is {{ convex_kubeconfig }}'\n")
    run = ansible_playbook_with_inventory(tmp_path / "run", play, inventory, prefix=namespace_prefix(home, tmp_path))
    assert run.rc != 0
    assert "the user_dir fact is missing" in run.output
    assert "kubeconfig is /" not in run.stdout
