# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the real ansible-playbook against this machine (connection local) from the role tests.

Two ways in, both reading variables the way users set them: ansible_playbook() writes a play and a
one-host inventory (host_vars/localhost.yml holds the test's settings), and
ansible_playbook_with_inventory() runs a playbook file with an inventory shaped like the sample one,
from an inventory directory with a host_vars file (write_inventory(); the contract comes from the
collection's roles/contract, as for an installed collection), so precedence and lazily templated defaults behave as on the Mac.
"""
from __future__ import annotations

import base64
import json
import os
import re
import contextlib
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class PlaybookRun:
    rc: int
    stdout: str
    stderr: str

    @property
    def output(self):
        return self.stdout + self.stderr

    def recap(self, host: str = "localhost"):
        """The PLAY RECAP counters of the one host, e.g. {'ok': 3, 'changed': 0, ...}."""
        for line in self.stdout.splitlines():
            if line.startswith(host + " ") and "ok=" in line:
                return {k: int(v) for k, v in (f.split("=") for f in line.split(":", 1)[1].split())}
        raise AssertionError("no PLAY RECAP in output:\n" + self.output)


def write_play_inventory(directory: Path, host: str, group_vars: dict | None, host_vars: dict | None) -> Path:
    """An inventory the way users keep one: hosts.yml, group_vars/all.yml, host_vars/<host>.yml."""
    (directory / "group_vars").mkdir(parents=True, exist_ok=True)
    (directory / "host_vars").mkdir(exist_ok=True)
    hosts = directory / "hosts.yml"
    hosts.write_text(json.dumps({"all": {"hosts": {host: {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    (directory / "group_vars" / "all.yml").write_text(json.dumps(group_vars or {}))
    (directory / "host_vars" / (host + ".yml")).write_text(json.dumps(host_vars or {}))
    return hosts


def ansible_playbook(workdir: Path, play: str, extra_vars: dict | None = None, check: bool = False,
                     verbosity: int = 0, group_vars: dict | None = None, host_vars: dict | None = None,
                     host: str = "localhost", per_run: dict | None = None) -> PlaybookRun:
    """Write play and inventory into workdir and run ansible-playbook there.

    The variables are read as users set them (issue 13), never as extra vars: extra_vars (the role
    inputs of a test, the historical name) go into the inventory's host_vars/<host>.yml, after
    host_vars; group_vars into group_vars/all.yml. Only per_run is passed with -e: the per-run
    switches the playbooks document as -e (BACKUP/CONFIRM, SHA, report paths).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    playbook = workdir / "play.yml"
    playbook.write_text(play)
    settings = dict(host_vars or {})
    settings.update(extra_vars or {})
    inventory = str(write_play_inventory(workdir / "inventory", host, group_vars, settings))
    cmd = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", inventory, "-c", "local", str(playbook)]
    if per_run:
        vars_file = workdir / "vars.json"
        vars_file.write_text(json.dumps(per_run))
        cmd += ["-e", "@" + str(vars_file)]
    if check:
        cmd.append("--check")
    if verbosity:
        cmd.append("-" + "v" * verbosity)
    return _run(cmd, workdir)


# The sample inventory's host (inventory/hosts.yml), in the group the playbooks target.
INVENTORY_HOST = "joelclaw-mini"


def write_inventory(base: Path, host_vars: dict) -> Path:
    """An inventory directory shaped like the sample one: hosts.yml (group macmini, connection
    local) and host_vars/<host>.yml = host_vars. The contract comes from the collection (roles/contract)."""
    inventory = base / "inventory"
    (inventory / "host_vars").mkdir(parents=True, exist_ok=True)
    (inventory / "hosts.yml").write_text(json.dumps({"all": {"children": {"macmini": {"hosts": {INVENTORY_HOST: {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}}}}}}))
    (inventory / "host_vars" / (INVENTORY_HOST + ".yml")).write_text(json.dumps(host_vars))
    return inventory


# The play the inventory-based role tests converge: both Convex roles, facts gathered as on the Mac.
RENDER_CONVERGE = """
- name: Converge the Convex workloads in render mode.
  hosts: macmini
  gather_facts: true
  gather_subset: [min]
  roles:
    - role: joelclaw.macmini.convex_backend
    - role: joelclaw.macmini.convex_dashboard
"""


def ansible_playbook_with_inventory(workdir: Path, playbook: Path, inventory: Path, extra_vars: dict | None = None,
                                    check: bool = False, verbosity: int = 0, prefix: tuple = (),
                                    options: tuple = ()) -> PlaybookRun:
    """Run a playbook file in place with -i inventory; extra_vars only for what users pass with -e.
    prefix wraps the command (e.g. a namespace that gives the user another home directory); options
    are further ansible-playbook options (e.g. --tags)."""
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [*prefix, str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(inventory), str(playbook)]
    if extra_vars:
        vars_file = workdir / "vars.json"
        vars_file.write_text(json.dumps(extra_vars))
        cmd += ["-e", "@" + str(vars_file)]
    if check:
        cmd.append("--check")
    if verbosity:
        cmd.append("-" + "v" * verbosity)
    cmd += list(options)
    return _run(cmd, workdir)


# What the output of an ansible-playbook run must never show (issue 16: "-vvv runs of every role and
# playbook leak no secret, hash or machine config"). Markers that only occur in a Talos machine config
# or a PEM private key (the cluster CA keys): a PEM key footer, the node containers' USERDATA env (talos
# providers/docker/node.go@v1.12.11) and the fake CA keys of tests/unit/fakebin/macos_clis.py.
MACHINE_CONFIG_MARKERS = ("PRIVATE KEY-----", "USERDATA=", "FAKE-MACHINE-CA-PRIVATE-KEY", "FAKE-CLUSTER-CA-PRIVATE-KEY")


def secret_forms(value: str) -> tuple:
    """A secret and the encodings a log could carry it in: as is, base64 (slurp, Kubernetes Secret
    data, with and without a trailing newline) and JSON-escaped."""
    forms = {value, base64.b64encode(value.encode()).decode(), base64.b64encode((value + "\n").encode()).decode(),
             json.dumps(value)[1:-1]}
    return tuple(sorted(form for form in forms if form))


def assert_no_leak(run, secrets: dict, verbosity: int = 3, machine_config: bool = True):
    """Fail when run (a PlaybookRun or an output string) shows any of secrets ({label: value}, each
    in every form of secret_forms) or a machine-config marker. With verbosity 3 the run must really
    have been at -vvv (the connection plugin's ESTABLISH line only shows from -vvv on), so the grep
    cannot pass on a quiet run."""
    output = run if isinstance(run, str) else run.output
    if verbosity >= 3:
        assert "ESTABLISH LOCAL CONNECTION" in output, "not a -vvv run: the leak grep would prove nothing"
    found = []
    for label, value in secrets.items():
        assert value, "empty needle for " + label
        for form in secret_forms(value):
            if form in output:
                found.append("%s (%r...)" % (label, form[:10]))
    if machine_config:
        found += ["machine config marker %r" % marker for marker in MACHINE_CONFIG_MARKERS if marker in output]
    assert not found, "the output leaks: " + ", ".join(found)


def _run(cmd: list, workdir: Path) -> PlaybookRun:
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections"),
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
    })
    # A guard against a hung run, not a timing check: a whole upgrade at -vvv took ~300 s at load 20-25.
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=900, check=False)
    return PlaybookRun(proc.returncode, proc.stdout, proc.stderr)


# ---------------------------------------------------------------- many cases in one run
def host_name(case: str) -> str:
    """An inventory host name for a test case: lower case, runs of other characters as one dash."""
    return re.sub(r"[^a-z0-9]+", "-", case.lower()).strip("-")


def ansible_playbook_hosts(workdir: Path, play: str, hosts: dict, group_vars: dict | None = None,
                           check: bool = False, verbosity: int = 0) -> PlaybookRun:
    """One ansible-playbook run over several inventory hosts, all connection local, each with its own
    host_vars file ({host: variables}) and group_vars/all.yml = group_vars: a table of bad-input cases
    in one run instead of one run each (each ansible-playbook start costs seconds of CPU). Every host
    runs the play on its own, so each case still fails, or passes, on its own; failure_of() and
    tasks_of() read one host's part of the output."""
    inventory = workdir / "inventory"
    (inventory / "host_vars").mkdir(parents=True, exist_ok=True)
    (inventory / "group_vars").mkdir(exist_ok=True)
    (inventory / "group_vars" / "all.yml").write_text(json.dumps(group_vars or {}))
    (inventory / "hosts.yml").write_text(json.dumps({"all": {"hosts": {name: None for name in hosts}}}))
    for name, variables in hosts.items():
        (inventory / "host_vars" / (name + ".yml")).write_text(json.dumps(dict(
            {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}, **variables)))
    playbook = workdir / "play.yml"
    playbook.write_text(play)
    return ansible_playbook_with_inventory(workdir, playbook, inventory, check=check, verbosity=verbosity)


def failure_of(run, host: str) -> str:
    """The messages of the host's failed task and its failed loop items. The repository's ansible.cfg
    prints each result as YAML (callback_result_format), indented under its 'fatal:'/'failed:' line."""
    messages, lines = [], run.stdout.splitlines()
    head = re.compile(r"^(fatal|failed): \[%s\]( \(item=[^)]*\))?(: FAILED!)? =>" % re.escape(host))
    for number, line in enumerate(lines):
        if head.match(line):
            block = []
            for following in lines[number + 1:]:
                if following and not following.startswith(" "):
                    break
                block.append(following)
            messages.append(str((yaml.safe_load("\n".join(block)) or {}).get("msg", "")))
    assert messages, "%s did not fail:\n%s" % (host, run.output)
    return "\n".join(messages)


def output_of(run, host: str) -> str:
    """What the run printed for host: its result lines (ok, changed, skipping, fatal, failed) and the
    YAML block indented under each, so a check of one host's messages cannot pass on another host's."""
    taken, taking = [], False
    result = re.compile(r"^(ok|changed|skipping|fatal|failed): \[%s\]" % re.escape(host))
    for line in run.stdout.splitlines():
        if result.match(line):
            taking = True
        elif line and not line.startswith(" "):
            taking = False
        if taking:
            taken.append(line)
    return "\n".join(taken)


def tasks_of(run, host: str) -> list:
    """The names of the tasks that reported a result for host (ok, changed, skipping, fatal, ...)."""
    tasks, task = [], None
    result = re.compile(r"^(ok|changed|skipping|fatal|failed|included): \[%s\]" % re.escape(host))
    for line in run.stdout.splitlines():
        if line.startswith("TASK ["):
            task = line[len("TASK ["):line.rindex("]")]
        elif task and result.match(line) and (not tasks or tasks[-1] != task):
            tasks.append(task)
    return tasks


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def convex_standin_process(instance_secret: str, instance_name: str = "joelclaw"):
    """The Convex TEST STAND-IN (tests/standins/convex) as its own process on free loopback ports:
    yields (API URL, dashboard port) once /version answers; stopped on exit."""
    root = Path(__file__).resolve().parents[2]
    port, dashboard_port = _free_loopback_port(), _free_loopback_port()
    with subprocess.Popen([sys.executable, str(root / "tests" / "standins" / "convex" / "convex_standin.py"),
                           "--port", str(port), "--dashboard-port", str(dashboard_port),
                           "--instance-name", instance_name, "--instance-secret", instance_secret],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as proc:
        url = "http://127.0.0.1:%d" % port
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/version", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        try:
            yield url, dashboard_port
        finally:
            proc.terminate()
            proc.wait(timeout=10)
