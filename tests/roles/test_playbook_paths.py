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
home the playbooks run in a mount namespace where /etc/passwd names a temporary one. The cluster
is the real kube-apiserver of k8s_harness.py; the backend is the Convex stand-in of
test_convex_backend_apply.py.
"""
from __future__ import annotations

import copy
import os
import pwd
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from playbook_runner import INVENTORY_HOST, ansible_playbook_with_inventory, assert_no_leak, write_inventory
from test_convex_backend import GROUP_VARS, OTHER_SHA, PLAY, ROOT, SECRET
from k8s_harness import control_plane, kube  # noqa: F401  pylint: disable=unused-import
from test_convex_backend_apply import MIGRATED_LOG, convex  # noqa: F401  pylint: disable=unused-import

PLAYBOOKS = ROOT / "playbooks"
# The end-to-end runs below are also the leak check of the playbooks (issue 16): at -vvv every module's
# arguments and result are printed, and the output is grepped for each secret the runs handle.
VERBOSITY = 3


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


# ---------------------------------------------------------------- the playbooks, end to end
def host_vars(convex_fixture):
    """What a user puts in host_vars for this Mac: published host ports (here the stand-in's) and
    the vaulted instance secret. Nothing about paths."""
    url, dashboard_port = convex_fixture
    ports = copy.deepcopy(GROUP_VARS["convex_published_ports"])
    ports["api"]["host_port"] = int(url.rsplit(":", 1)[1])
    ports["dashboard"]["host_port"] = dashboard_port
    # No registry is reachable here: the image check is covered with a fake docker in
    # test_convex_backend_apply.py and test_docker_image_available.py.
    return {"convex_published_ports": ports, "convex_backend_instance_secret": SECRET,
            "convex_backend_image_check": "skip",
            # Not an upstream release: its migration range declared as for a release newer than the table.
            "convex_upgrade_releases": {OTHER_SHA: {"database_version": 129, "migrates_from": 116}}}


@needs_namespace
def test_upgrade_backup_and_health_find_the_state_dir_of_the_converge(tmp_path, kube, convex):  # noqa: F811
    home = tmp_path / "home"
    state = home / ".joelclaw"
    state.mkdir(parents=True, mode=0o700)
    # colima_talos writes the kubeconfig here; the stand-in cluster's goes in its place.
    shutil.copy(kube.kubeconfig, state / "kubeconfig")
    inventory = write_inventory(tmp_path, host_vars(convex))
    prefix = namespace_prefix(home, tmp_path)

    converge = tmp_path / "converge.yml"
    converge.write_text(PLAY.replace("hosts: localhost", "hosts: macmini").replace("gather_facts: false", "gather_facts: true"))
    first = ansible_playbook_with_inventory(tmp_path / "run1", converge, inventory, prefix=prefix,
                                            verbosity=VERBOSITY)
    assert first.rc == 0, first.output
    assert (state / "convex-admin.env").is_file()
    assert (state / "convex-instance-secret").read_text().strip() == SECRET
    assert not Path("/var/lib/joelclaw/.joelclaw").exists()
    kube.set_log("joelclaw", "convex-0", "backend", MIGRATED_LOG)
    kube.reset_audit()

    # The one variable the playbook documents as -e.
    upgrade = ansible_playbook_with_inventory(tmp_path / "run2", PLAYBOOKS / "upgrade.yml", inventory,
                                              extra_vars={"convex_upgrade_sha": OTHER_SHA}, prefix=prefix,
                                              verbosity=VERBOSITY)
    assert upgrade.rc == 0, upgrade.output
    assert upgrade.recap(INVENTORY_HOST)["failed"] == 0
    assert kube.audit_events()  # the kubeconfig in the state dir reached the cluster
    sts = kube.get("/apis/apps/v1/namespaces/joelclaw/statefulsets/convex")
    assert sts["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":" + OTHER_SHA)
    exports = sorted((state / "backups").glob("*.manifest.json"))
    assert len(exports) == 1, sorted(p.name for p in state.rglob("*"))  # the pre-upgrade backup set

    backup = ansible_playbook_with_inventory(tmp_path / "run3", PLAYBOOKS / "backup.yml", inventory, prefix=prefix,
                                             verbosity=VERBOSITY)
    assert backup.rc == 0, backup.output
    # Retention treats the pre-upgrade set like any other: keep_daily keeps the newest set of the day.
    sets = sorted((state / "backups").glob("*.zip"))
    assert len(sets) == 1 and sets[0].with_suffix(".manifest.json") != exports[0], \
        sorted(p.name for p in (state / "backups").iterdir())

    restore = ansible_playbook_with_inventory(tmp_path / "run4", PLAYBOOKS / "restore.yml", inventory, check=True,
                                              extra_vars={"convex_restore_backup": "latest"}, prefix=prefix,
                                              verbosity=VERBOSITY)
    assert restore.rc == 0, restore.output
    assert sets[-1].name in restore.stdout

    health = ansible_playbook_with_inventory(tmp_path / "run5", PLAYBOOKS / "health.yml", inventory, prefix=prefix,
                                             verbosity=VERBOSITY,
                                             extra_vars={"convex_health_fail_on": "never",
                                                         "convex_health_report_path": str(tmp_path / "health.json")})
    assert health.rc == 0, health.output
    probes = {p["name"]: p for p in yaml.safe_load((tmp_path / "health.json").read_text())["probes"]}
    # The newest backup was found in the state dir, and the kubeconfig there reached the cluster.
    assert probes["backup_age"]["status"] == "ok", probes["backup_age"]
    assert probes["statefulset"]["status"] == "ok", probes["statefulset"]

    # None of the five runs shows the instance secret or the admin key derived from it.
    admin_key = [line.split("=", 1)[1] for line in (state / "convex-admin.env").read_text().splitlines()
                 if line.startswith("CONVEX_SELF_HOSTED_ADMIN_KEY=")][0]
    for run in (first, upgrade, backup, restore, health):
        assert_no_leak(run, {"instance secret": SECRET, "admin key": admin_key,
                             "admin key, signed part": admin_key.split("|", 1)[-1]}, verbosity=VERBOSITY)
