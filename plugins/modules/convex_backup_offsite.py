#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: convex_backup_offsite
short_description: Copy verified Convex backup sets to restic repositories, or restore one from there
version_added: 0.2.0
description:
  - With O(state=copied), copies a verified backup set written by M(joelclaw.macmini.convex_backup)
    to every repository in O(repositories) with restic (encrypted), then runs C(restic forget --prune)
    with O(keep_daily) / O(keep_weekly) (the newest snapshot is always kept) and, when due,
    C(restic check --read-data-subset). The scheduled job of the joelclaw.macmini.convex_backup role
    runs the same code after each backup.
  - A repository is initialised only when restic reports that none exists (exit code 10); a wrong
    password (exit 12), a lock or an unreachable host fail that repository, never the others, and
    never touch the local set.
  - With O(state=restored), restores one set (O(set), newest by default) from the repository O(repository)
    into O(dest), under the set's own file names, ready for M(joelclaw.macmini.convex_backup_restore)
    with O(dest) as its C(backup_dir).
  - The password reaches restic only through C(RESTIC_PASSWORD_FILE), a 0600 file.
author:
  - Joel Hooks (@joelhooks)
options:
  state:
    description: V(copied) copies a set to every repository; V(restored) restores one from O(repository).
    type: str
    choices: [copied, restored]
    default: copied
  repositories:
    description:
      - The restic repositories. Each has C(name), C(type) (V(local) or V(sftp)) and an absolute C(path);
        an sftp one also C(host), C(user), and optionally C(port), C(identity_file) and C(known_hosts_file).
    type: list
    elements: dict
    required: true
  password:
    description: The repositories' password (from the vault). Written to a private temporary file for restic.
    type: str
  password_file:
    description: A 0600 file holding the password, instead of O(password).
    type: path
  restic:
    description: Path of the restic binary.
    type: path
    default: restic
  backup_dir:
    description: Directory of backup sets (O(state=copied)).
    type: path
  backup:
    description: The set to copy - V(latest) or a ZIP name in O(backup_dir).
    type: str
    default: latest
  host:
    description: restic host name of the snapshots (the instance name).
    type: str
    required: true
  stage_dir:
    description: Directory where the set is laid out under fixed names for restic (O(state=copied)).
    type: path
  status_file:
    description: JSON file recording, per repository, the newest snapshot, the last error and the last check.
    type: path
  keep_daily:
    description: Keep the newest snapshot of each of this many most recent days.
    type: int
    default: 7
  keep_weekly:
    description: Keep the newest snapshot of each of this many most recent ISO weeks.
    type: int
    default: 4
  check_every_days:
    description: Run C(restic check --read-data-subset O(check_subset)) when the last one is this old; V(0) never.
    type: int
    default: 7
  check_subset:
    description: The C(--read-data-subset) value (C(5%), C(1/10), C(500M)).
    type: str
    default: 5%
  repository:
    description: Name of the repository to restore from (O(state=restored)); the first one by default.
    type: str
  set:
    description: The set to restore (O(state=restored)) - V(latest) or its name C(snapshot_<instance>_<ts>).
    type: str
    default: latest
  dest:
    description: Empty directory to restore into (O(state=restored)).
    type: path
  timeout:
    description: Seconds one restic run may take.
    type: float
    default: 3600
extends_documentation_fragment:
  - joelclaw.macmini.attributes
attributes:
  check_mode:
    support: partial
    details: O(state=copied) only resolves the set; O(state=restored) restores into O(dest) also in check mode (it writes nothing else).
  diff_mode:
    support: none
notes:
  - The password never appears in a command line, a log or a result.
seealso:
  - module: joelclaw.macmini.convex_backup
  - module: joelclaw.macmini.convex_backup_restore
"""

EXAMPLES = r"""
- name: Ensure the newest backup set is in every offsite repository.
  joelclaw.macmini.convex_backup_offsite:
    repositories:
      - {name: usb, type: local, path: /Volumes/Backup/convex-restic}
      - {name: nas, type: sftp, host: nas.example, user: backup, path: /srv/restic/convex}
    password: "{{ convex_backup_offsite_password }}"
    restic: /opt/homebrew/bin/restic
    backup_dir: "{{ convex_backup_dir }}"
    host: joelclaw
    stage_dir: "{{ convex_state_dir }}/offsite-stage"
    status_file: "{{ convex_state_dir }}/offsite-status.json"

- name: Restore the newest set from the nas repository into a temporary directory.
  joelclaw.macmini.convex_backup_offsite:
    state: restored
    repositories: "{{ convex_backup_offsite_repositories }}"
    repository: nas
    password: "{{ convex_backup_offsite_password }}"
    host: joelclaw
    dest: "{{ restore_tmp.path }}"
"""

RETURN = r"""
failed_repositories:
  description: Repositories the set could not be copied to (O(state=copied)).
  returned: state=copied
  type: list
  elements: str
log:
  description: One line per repository and step, as the scheduled job logs them.
  returned: state=copied
  type: list
  elements: str
set:
  description: The set copied or restored (C(snapshot_<instance>_<ts>)).
  returned: always
  type: str
files:
  description: The restored files in O(dest).
  returned: state=restored
  type: list
  elements: str
snapshot:
  description: The restic snapshot restored from.
  returned: state=restored
  type: str
"""

import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_backup as backup
from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_offsite as offsite
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_client import ConvexError


def password_file(module, workdir):
    params = module.params
    if params["password_file"]:
        return params["password_file"]
    path = os.path.join(workdir, "password")
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(handle, "w") as out:
        out.write(params["password"])
    return path


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["copied", "restored"], default="copied"),
            repositories=dict(type="list", elements="dict", required=True),
            password=dict(type="str", no_log=True),
            password_file=dict(type="path"),
            restic=dict(type="path", default="restic"),
            backup_dir=dict(type="path"),
            backup=dict(type="str", default="latest"),
            host=dict(type="str", required=True),
            stage_dir=dict(type="path"),
            status_file=dict(type="path"),
            keep_daily=dict(type="int", default=7),
            keep_weekly=dict(type="int", default=4),
            check_every_days=dict(type="int", default=7),
            check_subset=dict(type="str", default="5%"),
            repository=dict(type="str"),
            set=dict(type="str", default="latest"),
            dest=dict(type="path"),
            timeout=dict(type="float", default=3600),
        ),
        required_one_of=[("password", "password_file")],
        mutually_exclusive=[("password", "password_file")],
        required_if=[("state", "copied", ("backup_dir", "stage_dir", "status_file")),
                     ("state", "restored", ("dest",))],
        supports_check_mode=True,
    )
    params = module.params
    problems = offsite.check_repositories(params["repositories"])
    if not params["repositories"]:
        problems.append("repositories is empty; give at least one repository")
    if params["password"] is not None and len(params["password"]) < 8:
        problems.append("password is shorter than 8 characters (or empty); put the repositories' password in the vault")
    for name in ("keep_daily", "keep_weekly", "check_every_days"):
        if params[name] < 0:
            problems.append("%s=%d is negative" % (name, params[name]))
    if params["check_subset"] and not offsite.SUBSET_RE.match(params["check_subset"]):
        problems.append("check_subset=%r is not a restic --read-data-subset value (5%%, 1/10, 500M)"
                        % params["check_subset"])
    if problems:
        module.fail_json(msg="; ".join(problems))
    workdir = tempfile.mkdtemp(prefix="convex-offsite-")
    try:
        if params["state"] == "restored":
            restore(module, workdir)
        else:
            copy(module, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def copy(module, workdir):
    params = module.params
    try:
        entry = backup.resolve(params["backup_dir"], params["backup"])
    except ConvexError as exc:
        module.fail_json(msg=exc.message)
    if entry["status"] != backup.GOOD:
        module.fail_json(msg="backup %s is incomplete (%s); only verified sets are copied offsite."
                         % (entry["base"], entry["problem"]))
    if module.check_mode:
        module.exit_json(changed=True, set=entry["base"], failed_repositories=[], log=[])
    config = {
        "restic": params["restic"], "password_file": password_file(module, workdir),
        "cache_dir": None, "status_file": params["status_file"], "stage_dir": params["stage_dir"],
        "repositories": params["repositories"], "keep_daily": params["keep_daily"],
        "keep_weekly": params["keep_weekly"], "check_every_days": params["check_every_days"],
        "check_subset": params["check_subset"], "timeout": params["timeout"],
    }
    lines = []
    failed = offsite.copy_offsite(config, entry["manifest"], params["backup_dir"], params["host"], lines.append,
                                  backup.write_private_json)
    changed = any(" copied " in line for line in lines)
    if failed:
        module.fail_json(msg="the set %s could not be copied to %s (the local set is kept): %s"
                         % (entry["base"], ", ".join(failed), " | ".join(l for l in lines if "FAILED" in l)),
                         changed=changed, set=entry["base"], failed_repositories=failed, log=lines)
    module.exit_json(changed=changed, set=entry["base"], failed_repositories=[], log=lines)


def restore(module, workdir):
    params = module.params
    repos = params["repositories"]
    wanted = params["repository"] or repos[0]["name"]
    repo = next((r for r in repos if r["name"] == wanted), None)
    if repo is None:
        module.fail_json(msg="repository=%r is not among the repositories (%s)."
                         % (wanted, ", ".join(r["name"] for r in repos)))
    dest = params["dest"]
    if not os.path.isdir(dest) or os.listdir(dest):
        module.fail_json(msg="dest %s must be an existing empty directory (state=restored)." % dest)
    name = None if params["set"] in (None, "", "latest") else params["set"]
    if name and name.endswith(".zip"):
        name = name[:-len(".zip")]
    runner = offsite.Restic(params["restic"], password_file(module, workdir), timeout=params["timeout"])
    try:
        offsite.check_password_file(runner.password_file)
        result = runner.restore(repo, params["host"], name, dest)
    except offsite.OffsiteError as exc:
        module.fail_json(msg=exc.message, kind=exc.kind)
    module.exit_json(changed=True, **result)


if __name__ == "__main__":
    main()
