"""Install the collections this project uses without Ansible Galaxy.

Galaxy is not always reachable (CI machines only reach PyPI), but the community
``ansible`` wheel on PyPI carries every collection we depend on. This script
downloads that wheel once (pinned, see ANSIBLE_PACKAGE) and refuses it unless its
sha256 is the pinned ANSIBLE_WHEEL_SHA256. It extracts only the collection folders
named in requirements.yml and tests/requirements.yml, checks every extracted file against the collection's own
FILES.json (whose sha256 MANIFEST.json records), and checks that each extracted version
is the one requirements.yml pins. Collections already installed are checked the same
way on every run, and refused when a file differs. It also links this repository into
the collections tree as joelclaw.macmini so playbooks and molecule resolve FQCNs.

The FILES.json format is ansible-galaxy's (ansible/ansible v2.19.14,
lib/ansible/galaxy/collection/__init__.py: _make_manifest, _make_entry, and
_build_collection_tar, which fills MANIFEST.json's file_manifest_file.chksum_sha256):
{"files": [{"name": "plugins/x.py", "ftype": "file", "chksum_type": "sha256",
"chksum_sha256": "<hex>", "format": 1}, {"name": "plugins", "ftype": "dir", ...}], "format": 1}.
The check follows verify_local_collection there: MANIFEST.json -> FILES.json -> every
file; a file or directory that FILES.json does not list is an error too (*.pyc aside).
Only what the ansible package leaves out may be missing (left_out_by_package).

Usage: offline_collections.py <dest> [--cache DIR]
"""
from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
# The community package whose wheel carries the pinned collections.
ANSIBLE_PACKAGE = "ansible==12.3.0"
# Its one wheel on PyPI and that file's sha256, as the index lists it (pip checks the index's
# hash while downloading; this pin is checked here, on every run). To move the pin: change
# ANSIBLE_PACKAGE, `pip download --no-deps --only-binary :all: ansible==X -d DIR`, and
# `sha256sum DIR/ansible-X-py3-none-any.whl`; compare with the digest PyPI shows for that file.
ANSIBLE_WHEEL = "ansible-12.3.0-py3-none-any.whl"
ANSIBLE_WHEEL_SHA256 = "cd156f82fa87f7a899212b0efa9f7ca3a24d609212de9f78428a572eb01e5414"
# ansible-galaxy's verify skips these (verify_local_collection: b_ignore_patterns); the
# __pycache__ folders that hold them appear once the controller imports a collection's plugins.
IGNORED = ("*.pyc",)
# The ansible package leaves out, at the top of each collection, docs/, tests/ and every name that
# starts with "." (ansible-community/antsibull-build@92d4d04c, src/antsibull_build/constants.py
# COLLECTION_EXCLUDE_DIRS and python_metadata.py _get_exclude_package_data): FILES.json still lists
# them, so only those may be missing. Every other listed file must be there, unchanged.
PACKAGE_EXCLUDED_TOP = ("docs", "tests")


def left_out_by_package(name: str) -> bool:
    top = name.split("/", 1)[0]
    return top in PACKAGE_EXCLUDED_TOP or top.startswith(".")


def refuse(message: str) -> None:
    sys.exit(f"offline_collections: {message}")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# What the collection uses (requirements.yml), then what only the tests use (tests/requirements.yml).
REQUIREMENTS = ("requirements.yml", "tests/requirements.yml")


def wanted_collections() -> dict[str, str]:
    wanted = {}
    for name in REQUIREMENTS:
        path = ROOT / name
        if path.exists():
            data = yaml.safe_load(path.read_text())
            wanted.update({c["name"]: str(c["version"]) for c in data["collections"]})
    return wanted


def check_wheel(wheel: Path) -> Path:
    have = sha256_of(wheel)
    if have != ANSIBLE_WHEEL_SHA256:
        refuse(
            f"{wheel} has sha256 {have}, but {ANSIBLE_WHEEL} is pinned to {ANSIBLE_WHEEL_SHA256} "
            "(scripts/offline_collections.py). Nothing was installed. Delete that file and run again to "
            "download it anew; if the index serves it again, do not move the pin without finding out why."
        )
    return wheel


def find_wheel(cache: Path) -> Path:
    wheel = cache / ANSIBLE_WHEEL
    if wheel.is_file():
        return check_wheel(wheel)
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        # pip's hash-checking mode: the download itself is refused unless it has the pinned hash.
        pins = Path(tmp) / "ansible.lock"
        pins.write_text(f"{ANSIBLE_PACKAGE} --hash=sha256:{ANSIBLE_WHEEL_SHA256}\n")
        pip = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes",
             "--only-binary=:all:", "-r", str(pins), "-d", tmp],
            check=False,
        )
        if pip.returncode != 0:
            refuse(f"pip download {ANSIBLE_PACKAGE} with --hash=sha256:{ANSIBLE_WHEEL_SHA256} failed "
                   f"(exit {pip.returncode}, pip's message above); nothing was installed")
        fetched = Path(tmp) / ANSIBLE_WHEEL
        if not fetched.is_file():
            refuse(f"pip download {ANSIBLE_PACKAGE} produced no {ANSIBLE_WHEEL} in {cache}")
        check_wheel(fetched)
        os.replace(fetched, wheel)
    return wheel


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"{path.name} cannot be read: {err}") from err


def verify_collection(path: Path) -> list[str]:
    """What in the collection at path differs from its FILES.json; empty when it all matches."""
    try:
        manifest = _json(path / "MANIFEST.json")
        entry = manifest["file_manifest_file"]
        files_name = entry["name"]
        if entry.get("chksum_type") != "sha256" or files_name != "FILES.json":
            return [f"MANIFEST.json names {files_name!r} with checksum {entry.get('chksum_type')!r}, "
                    "not FILES.json with sha256"]
        if sha256_of(path / files_name) != entry["chksum_sha256"]:
            return ["FILES.json: its sha256 is not the one MANIFEST.json records"]
        listed = _json(path / files_name)["files"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        return [f"manifest unreadable: {err}"]

    problems = []
    files = {"MANIFEST.json", "FILES.json"}
    dirs = set()
    for item in listed:
        name, ftype = item.get("name"), item.get("ftype")
        if not isinstance(name, str) or name.startswith("/") or ".." in name.split("/"):
            problems.append(f"FILES.json lists an unsafe name {name!r}")
            continue
        if ftype == "dir":
            dirs.add(os.path.normpath(name))
            continue
        files.add(name)
        if item.get("chksum_type") != "sha256":
            problems.append(f"{name}: FILES.json gives no sha256")
            continue
        target = path / name
        if not target.exists() and not target.is_symlink() and left_out_by_package(name):
            continue
        if not target.is_file() or target.is_symlink():
            problems.append(f"{name}: missing")
        elif sha256_of(target) != item.get("chksum_sha256"):
            problems.append(f"{name}: sha256 differs from FILES.json")
    for root, subdirs, names in os.walk(path):
        rel_root = os.path.relpath(root, path)
        for sub in subdirs:
            rel = os.path.normpath(os.path.join(rel_root, sub))
            if rel not in dirs and sub != "__pycache__":
                problems.append(f"{rel}/: a directory FILES.json does not list")
        for name in names:
            rel = os.path.normpath(os.path.join(rel_root, name))
            if rel not in files and not any(fnmatch.fnmatch(name, pattern) for pattern in IGNORED):
                problems.append(f"{rel}: a file FILES.json does not list")
    return problems


def _refuse_problems(fqcn: str, where: Path, problems: list[str], fix: str) -> None:
    shown = "\n  ".join(problems[:20])
    more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
    refuse(f"{fqcn} in {where} does not match its FILES.json:\n  {shown}{more}\n{fix}")


def _wheel_member(zf: zipfile.ZipFile, name: str) -> bytes | None:
    try:
        return zf.read(name)
    except KeyError:
        return None


def extract(wheel: Path, dest: Path, wanted: dict[str, str]) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        for fqcn, version in wanted.items():
            ns, name = fqcn.split(".")
            target = dest / "ansible_collections" / ns / name
            prefix = f"ansible_collections/{ns}/{name}/"
            manifest = target / "MANIFEST.json"
            if manifest.is_file():
                have = json.loads(manifest.read_text())["collection_info"]["version"]
                if have == version:
                    # The installed MANIFEST.json must be the wheel's (pinned by hash), and every
                    # file must match the FILES.json it vouches for.
                    problems = []
                    if manifest.read_bytes() != _wheel_member(zf, prefix + "MANIFEST.json"):
                        problems.append(f"MANIFEST.json is not the one {wheel.name} carries")
                    problems += verify_collection(target)
                    if problems:
                        _refuse_problems(fqcn, target, problems,
                                         f"Nothing was changed. Remove {target} and run `make collections` again.")
                    continue
                shutil.rmtree(target)
            members = [n for n in names if n.startswith(prefix)]
            if not members:
                refuse(f"{fqcn} is not in {wheel.name}; pick another ANSIBLE_PACKAGE")
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
            try:
                zf.extractall(staging, members)
                extracted = staging / prefix
                problems = verify_collection(extracted)
                if problems:
                    _refuse_problems(fqcn, wheel, problems, f"Nothing was installed for {fqcn}.")
                have = json.loads((extracted / "MANIFEST.json").read_text())["collection_info"]["version"]
                if have != version:
                    refuse(
                        f"{fqcn}: requirements.yml pins {version} but {wheel.name} carries {have}; "
                        "update requirements.yml or ANSIBLE_PACKAGE so they agree"
                    )
                os.replace(extracted, target)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            print(f"installed {fqcn} {have} (every file checked against its FILES.json)")


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
