# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.joelclaw.macmini.plugins.modules import file_states


def run(capsys, **args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            file_states.main()
    return json.loads(capsys.readouterr().out)


def test_file_directory_link_and_missing_paths_in_one_answer(capsys, tmp_path):
    manifest = tmp_path / "service.yml"
    manifest.write_bytes(b"kind: Service\n")
    manifest.chmod(0o640)
    directory = tmp_path / "render"
    directory.mkdir(mode=0o700)
    directory.chmod(0o700)
    link = tmp_path / "link.yml"
    link.symlink_to(manifest)
    paths = [str(manifest), str(directory), str(link), str(tmp_path / "gone.yml"), str(manifest / "under-a-file")]
    result = run(capsys, paths=paths)
    assert result["changed"] is False
    states = result["states"]
    assert sorted(states) == sorted(paths)
    me, group = pwd.getpwuid(os.getuid())[0], grp.getgrgid(os.getgid())[0]
    assert states[str(manifest)] == {"exists": True, "type": "file", "mode": "0640", "owner": me, "group": group,
                                     "checksum": hashlib.sha1(b"kind: Service\n").hexdigest()}
    assert states[str(directory)] == {"exists": True, "type": "directory", "mode": "0700", "owner": me, "group": group}
    # A link is not followed: a caller comparing with a file's wanted state sees a difference.
    assert states[str(link)]["type"] == "link" and "checksum" not in states[str(link)]
    assert states[str(tmp_path / "gone.yml")] == {"exists": False, "type": "absent"}
    assert states[str(manifest / "under-a-file")] == {"exists": False, "type": "absent"}


def test_a_one_byte_edit_changes_the_checksum(capsys, tmp_path):
    manifest = tmp_path / "statefulset.yml"
    manifest.write_text("replicas: 1\n")
    before = run(capsys, paths=[str(manifest)])["states"][str(manifest)]["checksum"]
    manifest.write_text("replicas: 2\n")
    after = run(capsys, paths=[str(manifest)])["states"][str(manifest)]["checksum"]
    assert before != after == hashlib.sha1(b"replicas: 2\n").hexdigest()


def test_relative_paths_are_refused(capsys):
    result = run(capsys, paths=["/etc/hostname", "render/service.yml"])
    assert result["failed"] is True
    assert "render/service.yml" in result["msg"] and "absolute" in result["msg"]
