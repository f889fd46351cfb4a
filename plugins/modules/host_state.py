#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: host_state
short_description: Read the state of many paths, users, groups, systemd units and interpreters in one call
version_added: 0.1.0
description:
  - Reports, for every path in O(paths), whether it exists, its type, permission bits, owner, group, the
    target of a symbolic link and, for a regular file, the SHA-1 of its content (the checksum
    M(ansible.builtin.copy) and M(ansible.builtin.template) compare); for every name in O(users) and
    O(groups), the account as the host's user and group databases have it; and for every unit in
    O(systemd_units), what systemd reports of it; and for every interpreter in O(pythons), the Python
    version it runs as a scheduled job runs it.
  - A role reads everything it manages with one call, then runs M(ansible.builtin.copy),
    M(ansible.builtin.template), M(ansible.builtin.file), M(ansible.builtin.user),
    M(ansible.builtin.group) or M(ansible.builtin.systemd_service) only where the wanted state differs
    from what is there, instead of one round trip per item when nothing changed. The
    P(joelclaw.macmini.path_differs#filter) filter makes that comparison for paths.
  - Read-only (O(pythons) runs each interpreter once, to print its version). A symbolic link is
    reported as a link (it is not followed), so a caller that compares with a file's wanted state
    treats it as different.
author:
  - Joel Hooks (@joelhooks)
options:
  paths:
    description:
      - Absolute paths to read. A missing path is reported with RV(paths[].exists=false), not as an error.
    type: list
    elements: path
    default: []
  contents:
    description:
      - Absolute paths of small regular files whose content to return as well, base64-encoded in
        RV(paths[].content) as M(ansible.builtin.slurp) returns it, so a role that needs a kept value (a
        password hash) reads it in the same call. They are read like O(paths) and need not be listed there.
      - A file larger than 64 KiB is refused (this is for kept values, not for copying files).
      - The content may be a secret, so the module refuses to run unless the task sets C(no_log=true)
        when O(contents) is not empty.
    type: list
    elements: path
    default: []
  users:
    description:
      - User names to look up in the host's user database (C(getpwnam)). A missing user is reported with
        RV(users[].exists=false).
    type: list
    elements: str
    default: []
  groups:
    description:
      - Group names to look up in the host's group database (C(getgrnam)). A missing group is reported
        with RV(groups[].exists=false).
    type: list
    elements: str
    default: []
  systemd_units:
    description:
      - Full systemd unit names (C(caddy.service), C(backup.timer)) whose state to read with one
        C(systemctl show) call. A unit systemd does not know is reported with
        RV(systemd_units[].load_state=not-found).
      - On a host where systemd is not the running init system (no C(/run/systemd/system), the test
        of sd_booted(3)), nothing is asked; RV(systemd_running) is false and every unit is reported
        with the states C(unknown), so a caller that compares them runs its systemd task, which then
        reports the problem itself.
    type: list
    elements: str
    default: []
  pythons:
    description:
      - Absolute paths of Python interpreters to run as C(PATH -I -S -c ...) (isolated, without the
        C(site) module, which is how the collection's scheduled jobs run them), printing their C(major.minor)
        version. An interpreter that is missing, fails or does not answer within 30 seconds is reported
        with RV(pythons[].rc) other than 0 and RV(pythons[].error), not as an error.
      - On macOS, C(/usr/bin/python3) without the Command Line Tools is a stub that asks to install them
        and fails.
    type: list
    elements: path
    default: []
notes:
  - O(systemd_units) reads the properties C(LoadState), C(ActiveState), C(UnitFileState) and
    C(NeedDaemonReload) that C(systemctl show) prints, one block per unit in the order asked
    (systemd's systemctl(1), C(show)); M(ansible.builtin.systemd_service) reads the same properties.
extends_documentation_fragment:
  - joelclaw.macmini.attributes
  - joelclaw.macmini.attributes.read_only
"""

EXAMPLES = r"""
- name: Read the rendered manifests, the service user and the timer in one call.
  joelclaw.macmini.host_state:
    paths:
      - /srv/manifests/service.yml
      - /srv/manifests/deployment.yml
    users: [caddy]
    systemd_units: [backup.timer]
  register: state

- name: Read a kept hash with the job's directory, and ask the job's Python its version, in the same call.
  joelclaw.macmini.host_state:
    paths: [/srv/job]
    contents: [/srv/job/site.bcrypt]
    pythons: [/usr/bin/python3]
  register: job_state
  no_log: true  # contents returns the kept hash

- name: Refuse a Python the job cannot run under.
  ansible.builtin.assert:
    that:
      - job_state.pythons['/usr/bin/python3'].rc == 0
      - job_state.pythons['/usr/bin/python3'].version is version('3.9', '>=')

- name: Render only the manifests whose content or mode differs.
  ansible.builtin.template:
    src: "{{ item }}.yml.j2"
    dest: "/srv/manifests/{{ item }}.yml"
    mode: "0644"
  loop: [service, deployment]
  when: >-
    state.paths | joelclaw.macmini.path_differs('/srv/manifests/' ~ item ~ '.yml', mode='0644',
    content=lookup('ansible.builtin.template', item ~ '.yml.j2'))

- name: Enable and start the timer only when it is not already.
  ansible.builtin.systemd_service:
    name: backup.timer
    enabled: true
    state: started
  when: >-
    state.systemd_units['backup.timer'].unit_file_state != 'enabled'
    or state.systemd_units['backup.timer'].active_state not in ['active', 'activating']
"""

RETURN = r"""
paths:
  description: One entry per path of O(paths), keyed by the path as given.
  returned: success
  type: dict
  contains:
    exists:
      description: Whether something is at the path (a dangling symbolic link counts).
      type: bool
    type:
      description: C(file), C(directory), C(link), C(other) or C(absent).
      type: str
    mode:
      description: Permission bits in octal, four digits (C(0644)); absent when nothing is there.
      type: str
    owner:
      description: Owner's user name (the numeric id when it has no name); absent when nothing is there.
      type: str
    group:
      description: Group name (the numeric id when it has no name); absent when nothing is there.
      type: str
    target:
      description: What a symbolic link points to, as written in the link; links only.
      type: str
    checksum:
      description: SHA-1 of the content, regular files this user can read only.
      type: str
    content:
      description: The content, base64-encoded; regular files of O(contents) that exist only.
      type: str
  sample:
    /srv/manifests/service.yml:
      exists: true
      type: file
      mode: "0644"
      owner: convex
      group: staff
      checksum: 2aae6c35c94fcfb415dbe95f408b9ce91ee846ed
    /srv/manifests/deployment.yml:
      exists: false
      type: absent
users:
  description: One entry per name of O(users).
  returned: success
  type: dict
  contains:
    exists:
      description: Whether the user database has the name.
      type: bool
    uid:
      description: User id; present users only.
      type: int
    group:
      description: Name of the primary group (the numeric id when it has no name); present users only.
      type: str
    home:
      description: Home directory; present users only.
      type: str
    shell:
      description: Login shell; present users only.
      type: str
  sample:
    caddy: {exists: true, uid: 998, group: caddy, home: /var/lib/caddy, shell: /usr/sbin/nologin}
groups:
  description: One entry per name of O(groups).
  returned: success
  type: dict
  contains:
    exists:
      description: Whether the group database has the name.
      type: bool
    gid:
      description: Group id; present groups only.
      type: int
  sample:
    caddy: {exists: true, gid: 998}
systemd_units:
  description: One entry per unit of O(systemd_units), keyed by the name as given.
  returned: success
  type: dict
  contains:
    load_state:
      description: C(LoadState), for example C(loaded) or C(not-found).
      type: str
    active_state:
      description: C(ActiveState), for example C(active), C(activating) or C(inactive).
      type: str
    unit_file_state:
      description: C(UnitFileState), for example C(enabled) or C(disabled); empty for a unit without a file.
      type: str
    need_daemon_reload:
      description: Whether the unit file changed on disk since systemd loaded it (C(NeedDaemonReload)).
      type: bool
  sample:
    backup.timer: {load_state: loaded, active_state: active, unit_file_state: enabled, need_daemon_reload: false}
pythons:
  description: One entry per interpreter of O(pythons), keyed by the path as given.
  returned: success
  type: dict
  contains:
    rc:
      description: The interpreter's exit status; C(-1) when it could not be started or did not answer in time.
      type: int
    version:
      description: C(major.minor) as the interpreter printed it; empty unless RV(pythons[].rc) is 0.
      type: str
    error:
      description: Why it did not answer (its standard error, the last 500 characters, or why it could not run); empty on success.
      type: str
  sample:
    /usr/bin/python3: {rc: 0, version: "3.11", error: ""}
    /opt/missing/python3: {rc: -1, version: "", error: "No such file or directory"}
systemd_running:
  description: Whether systemd runs as the init system (C(/run/systemd/system) is a directory), as read for O(systemd_units).
  returned: success
  type: bool
  sample: true
"""

import base64
import grp
import os
import pwd
import stat
import subprocess

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.joelclaw.macmini.plugins.module_utils._secret_result import require_no_log

# How O(pythons) runs an interpreter: as the scheduled jobs do (-I -S), printing major.minor.
PYTHON_ARGS = ["-I", "-S", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]
PYTHON_TIMEOUT = 30

# The largest file O(contents) returns: kept values (hashes, keys), not copies of files.
CONTENT_LIMIT = 64 * 1024

# The properties read, as systemctl show names them, and the keys they are returned under.
SYSTEMD_PROPERTIES = {
    "LoadState": "load_state",
    "ActiveState": "active_state",
    "UnitFileState": "unit_file_state",
    "NeedDaemonReload": "need_daemon_reload",
}


def _name(lookup, number):
    try:
        return lookup(number)[0]
    except KeyError:
        return str(number)


def path_state(module, path):
    """The state of one path, never following a final symbolic link."""
    try:
        info = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return {"exists": False, "type": "absent"}
    if stat.S_ISLNK(info.st_mode):
        kind = "link"
    elif stat.S_ISREG(info.st_mode):
        kind = "file"
    elif stat.S_ISDIR(info.st_mode):
        kind = "directory"
    else:
        kind = "other"
    result = {
        "exists": True,
        "type": kind,
        "mode": "%04o" % stat.S_IMODE(info.st_mode),
        "owner": _name(pwd.getpwuid, info.st_uid),
        "group": _name(grp.getgrgid, info.st_gid),
    }
    if kind == "link":
        result["target"] = os.readlink(path)
    elif kind == "file":
        try:
            result["checksum"] = module.digest_from_file(path, "sha1")
        except PermissionError:
            # Not readable by this user: no checksum, so a caller that compares content sees a difference
            # and runs its copy or template task, which reports the problem itself.
            pass
    return result


def with_content(module, path, state):
    """The state of one path of O(contents), with the file's content when it is a regular file."""
    if state["type"] == "file":
        try:
            with open(path, "rb") as handle:
                data = handle.read(CONTENT_LIMIT + 1)
        except OSError as exc:
            module.fail_json(msg="cannot read %s for contents: %s" % (path, exc.strerror))
        if len(data) > CONTENT_LIMIT:
            module.fail_json(msg="%s is larger than %d bytes: contents returns small kept values only" % (path, CONTENT_LIMIT))
        state["content"] = base64.b64encode(data).decode("ascii")
    elif state["exists"]:
        module.fail_json(msg="contents reads regular files only; %s is a %s" % (path, state["type"]))
    return state


def python_state(path):
    """What one interpreter answers when run as the scheduled jobs run it."""
    try:
        proc = subprocess.run([path] + PYTHON_ARGS, capture_output=True, text=True, timeout=PYTHON_TIMEOUT,
                              stdin=subprocess.DEVNULL, check=False)
    except OSError as exc:
        return {"rc": -1, "version": "", "error": exc.strerror or str(exc)}
    except subprocess.TimeoutExpired:
        return {"rc": -1, "version": "", "error": "no answer within %d seconds" % PYTHON_TIMEOUT}
    if proc.returncode != 0:
        return {"rc": proc.returncode, "version": "", "error": (proc.stderr or proc.stdout).strip()[-500:]}
    return {"rc": 0, "version": proc.stdout.strip(), "error": ""}


def user_state(name):
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return {"exists": False}
    return {"exists": True, "uid": entry.pw_uid, "group": _name(grp.getgrgid, entry.pw_gid),
            "home": entry.pw_dir, "shell": entry.pw_shell}


def group_state(name):
    try:
        return {"exists": True, "gid": grp.getgrnam(name).gr_gid}
    except KeyError:
        return {"exists": False}


def parse_systemctl_show(output, units):
    """systemctl show prints one block of KEY=VALUE lines per unit, in the order asked, blocks separated
    by an empty line (systemd's systemctl(1), show; recorded from systemd 252 in the unit test)."""
    blocks = output.strip("\n").split("\n\n")
    if len(blocks) != len(units):
        raise ValueError("systemctl show printed %d blocks for %d units" % (len(blocks), len(units)))
    states = {}
    for unit, block in zip(units, blocks):
        values = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        missing = [key for key in SYSTEMD_PROPERTIES if key not in values]
        if missing:
            raise ValueError("systemctl show printed no %s for %s" % (", ".join(missing), unit))
        state = dict((SYSTEMD_PROPERTIES[key], values[key]) for key in SYSTEMD_PROPERTIES)
        state["need_daemon_reload"] = state["need_daemon_reload"] == "yes"
        states[unit] = state
    return states


# What is reported for each unit when systemd is not running: nothing was asked.
UNKNOWN_UNIT = {"load_state": "unknown", "active_state": "unknown", "unit_file_state": "unknown",
                "need_daemon_reload": False}


def systemd_running():
    # sd_booted(3): systemd is the running init system when this directory exists.
    return os.path.isdir("/run/systemd/system")


def systemd_states(module, units):
    if not systemd_running():
        return dict((unit, dict(UNKNOWN_UNIT)) for unit in units)
    systemctl = module.get_bin_path("systemctl")
    if systemctl is None:
        module.fail_json(msg="systemd_units needs systemctl, which is not on this host's PATH")
    # Sorted, de-duplicated, so that the blocks map back to the names.
    names = sorted(set(units))
    rc, out, err = module.run_command([systemctl, "show", "--no-pager",
                                       "--property=" + ",".join(SYSTEMD_PROPERTIES)] + names)
    if rc != 0:
        module.fail_json(msg="systemctl show failed for systemd_units %s: %s" % (", ".join(names), (err or out).strip()))
    try:
        return parse_systemctl_show(out, names)
    except ValueError as exc:
        module.fail_json(msg="cannot read the state of systemd_units: %s" % exc)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            paths=dict(type="list", elements="path", default=[]),
            contents=dict(type="list", elements="path", default=[]),
            users=dict(type="list", elements="str", default=[]),
            groups=dict(type="list", elements="str", default=[]),
            systemd_units=dict(type="list", elements="str", default=[]),
            pythons=dict(type="list", elements="path", default=[]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    for option in ("paths", "contents", "pythons"):
        relative = [path for path in params[option] if not os.path.isabs(path)]
        if relative:
            module.fail_json(msg="%s must be absolute; not absolute: %s" % (option, ", ".join(relative)))
    if params["contents"]:
        require_no_log(module, "the content of the files in contents (%s)" % ", ".join(params["contents"]))
    bad_units = [unit for unit in params["systemd_units"]
                 if not unit or unit.startswith("-") or any(char.isspace() for char in unit)]
    if bad_units:
        module.fail_json(msg="systemd_units must be unit names without whitespace or a leading dash; not: %s"
                         % ", ".join(repr(unit) for unit in bad_units))
    try:
        paths = dict((path, path_state(module, path)) for path in params["paths"])
        for path in params["contents"]:
            paths[path] = with_content(module, path, paths[path] if path in paths else path_state(module, path))
    except OSError as exc:
        module.fail_json(msg="cannot read %s: %s" % (exc.filename, exc.strerror))
    result = {
        "changed": False,
        "paths": paths,
        "users": dict((name, user_state(name)) for name in params["users"]),
        "groups": dict((name, group_state(name)) for name in params["groups"]),
        "systemd_units": systemd_states(module, params["systemd_units"]) if params["systemd_units"] else {},
        "systemd_running": systemd_running(),
        "pythons": dict((path, python_state(path)) for path in params["pythons"]),
    }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
