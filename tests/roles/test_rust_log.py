# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""convex_backend refuses a RUST_LOG that hides the migration lines upgrade.yml's gate waits for.

The gate (playbooks/upgrade.yml, filter convex_migration_status) reads "Executing Migration"
(WARN, target migrations_model) and "Migrated N" / "Migration complete" (INFO, target
model::migrations) from the backend's log; get-convex/convex-backend at
94a42c3db8d7ba6d9fe36f2698f9d9d9daaac731, crates/migrations_model/src/lib.rs and
crates/model/src/migrations.rs. Variables come from an inventory, as users set them.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from playbook_runner import RENDER_CONVERGE, ansible_playbook_with_inventory, write_inventory

CONVERGE = RENDER_CONVERGE


def render(tmp_path: Path, rust_log: str):
    inventory = write_inventory(tmp_path, {"convex_state_dir": str(tmp_path / "state"), "convex_k8s_apply": False,
                                           "convex_backend_rust_log": rust_log})
    play = tmp_path / "converge.yml"
    play.write_text(CONVERGE)
    return ansible_playbook_with_inventory(tmp_path / "run", play, inventory)


@pytest.mark.parametrize("rust_log,needle", [
    ("warn", "directive 'warn' hides the INFO lines of target model::migrations"),
    ("info,model=error", "directive 'model=error' hides the INFO lines of target model::migrations"),
    ("info,migrations_model=error", "directive 'migrations_model=error' hides the WARN lines of target migrations_model"),
    ("info,model=loud", "not a valid directive"),
])
def test_a_rust_log_that_blinds_the_migration_gate_is_refused_before_any_change(tmp_path, rust_log, needle):
    run = render(tmp_path, rust_log)
    assert run.rc != 0, run.output
    assert "convex_backend_rust_log is \"%s\"" % rust_log in run.output, run.output
    assert needle in run.output, run.output
    assert not (tmp_path / "state").exists(), "a failed validation still wrote files"


def test_the_quietest_value_that_keeps_the_lines_is_rendered(tmp_path):
    run = render(tmp_path, "warn,model::migrations=info")
    assert run.rc == 0, run.output
    sts = yaml.safe_load((tmp_path / "state" / "manifests" / "convex_backend" / "statefulset.yml").read_text())
    env = {e["name"]: e.get("value") for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["RUST_LOG"] == "warn,model::migrations=info"
