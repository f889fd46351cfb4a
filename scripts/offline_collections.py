"""Install the collections this project uses without Ansible Galaxy.

Galaxy is not always reachable (CI machines only reach PyPI), but the community
``ansible`` wheel on PyPI carries every collection we depend on. This script
downloads that wheel once (pinned, see ANSIBLE_PACKAGE), extracts only the
collection folders named in requirements.yml, and checks that each extracted
version is the one requirements.yml pins. It also links this repository into
the collections tree as joelclaw.macmini so playbooks and molecule resolve FQCNs.

Usage: offline_collections.py <dest> [--cache DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
# The community package whose wheel carries the pinned collections.
ANSIBLE_PACKAGE = "ansible==12.3.0"


def wanted_collections() -> dict[str, str]:
    data = yaml.safe_load((ROOT / "requirements.yml").read_text())
    return {c["name"]: str(c["version"]) for c in data["collections"]}


def find_wheel(cache: Path) -> Path:
    version = ANSIBLE_PACKAGE.split("==", 1)[1]
    wheels = sorted(cache.glob(f"ansible-{version}-*.whl"))
    if wheels:
        return wheels[0]
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
         "--only-binary=:all:", ANSIBLE_PACKAGE, "-d", str(cache)],
        check=True,
    )
    wheels = sorted(cache.glob(f"ansible-{version}-*.whl"))
    if not wheels:
        sys.exit(f"pip download {ANSIBLE_PACKAGE} produced no wheel in {cache}")
    return wheels[0]


def extract(wheel: Path, dest: Path, wanted: dict[str, str]) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        for fqcn, version in wanted.items():
            ns, name = fqcn.split(".")
            target = dest / "ansible_collections" / ns / name
            manifest = target / "MANIFEST.json"
            if manifest.is_file():
                have = json.loads(manifest.read_text())["collection_info"]["version"]
                if have == version:
                    continue
                shutil.rmtree(target)
            prefix = f"ansible_collections/{ns}/{name}/"
            members = [n for n in names if n.startswith(prefix)]
            if not members:
                sys.exit(f"{fqcn} is not in {wheel.name}; pick another ANSIBLE_PACKAGE")
            zf.extractall(dest, members)
            have = json.loads(manifest.read_text())["collection_info"]["version"]
            if have != version:
                sys.exit(
                    f"{fqcn}: requirements.yml pins {version} but {wheel.name} carries {have}; "
                    "update requirements.yml or ANSIBLE_PACKAGE so they agree"
                )
            print(f"installed {fqcn} {have}")


def link_self(dest: Path) -> None:
    link = dest / "ansible_collections" / "joelclaw" / "macmini"
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        if link.is_symlink() and Path(os.readlink(link)) == ROOT:
            return
        if link.is_symlink():
            link.unlink()
        else:
            shutil.rmtree(link)
    link.symlink_to(ROOT, target_is_directory=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path)
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "wheels")
    args = parser.parse_args()
    wanted = wanted_collections()
    extract(find_wheel(args.cache), args.dest.resolve(), wanted)
    link_self(args.dest.resolve())


if __name__ == "__main__":
    main()
