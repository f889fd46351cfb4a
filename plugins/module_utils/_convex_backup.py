# -*- coding: utf-8 -*-
# Copyright: joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to joelclaw.macmini: this module_util may change without notice.
"""Backup sets of a self-hosted Convex deployment: take, verify, prune, restore.

Standard library only (plus the collection's Convex client and snapshot flows), because the
scheduled job on the host runs this file without Ansible (roles/convex_backup).

A backup set is three files in the backup directory, named after the server's ZIP name:

    snapshot_<instance>_<start_ts>.zip            the export (convex_health's backup_age reads *.zip)
    snapshot_<instance>_<start_ts>.env.json       the deployment's environment variables (0600)
    snapshot_<instance>_<start_ts>.manifest.json  time, size, sha256, table counts, image, env sha256

The ZIP is downloaded and verified under <backup_dir>/.staging, the sidecars are written, and
only then is the ZIP renamed into the directory: a ZIP in the directory always has its
manifest. Nothing ever overwrites an existing set; a failed run removes only what it wrote.
"""

from __future__ import annotations

import calendar
import datetime
import hashlib
import json
import os
import re
import tempfile
import time
import zipfile

from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_env_file as env_file_reader
from ansible_collections.joelclaw.macmini.plugins.module_utils import _convex_offsite as offsite_copies
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_client import ConvexError, int64
from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_snapshot import (
    documents_table, download_export, request_export, run_import, verify_zip)

MANIFEST_FORMAT = 1
STAGING = ".staging"
ZIP_RE = re.compile(r"^(?P<base>[A-Za-z0-9._-]+)\.zip\Z")
MANIFEST_SUFFIX = ".manifest.json"
ENV_SUFFIX = ".env.json"
GOOD, INCOMPLETE = "good", "incomplete"


# ---------------------------------------------------------------------------- files
def ensure_private_dir(path):
    """Create path (and parents) and make it 0700."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)


def write_private_json(path, data):
    """Write JSON to path atomically, 0600 from the first byte."""
    directory = os.path.dirname(os.path.abspath(path))
    handle, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".part", dir=directory)
    try:
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, "w") as out:
            json.dump(data, out, indent=2, sort_keys=True)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def env_digest(variables):
    return hashlib.sha256(json.dumps(variables, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def table_counts(path):
    """{table: documents} for every user table in an export ZIP (a component's as component/table)
    and every _storage index ("_storage", "component/_storage": files, not documents). The
    _tables indexes are not tables and are left out."""
    counts = {}
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            kind = documents_table(name)
            if kind is None:
                continue
            with archive.open(name) as member:
                counts[kind[1]] = sum(1 for line in member if line.strip())
    return counts


def document_count(counts):
    """The documents in a table_counts result: the user tables' rows, not the storage files."""
    return sum(v for k, v in counts.items() if k.split("/")[-1] != "_storage")


def iso_utc(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def parse_iso_utc(text):
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))


# ---------------------------------------------------------------------------- take
def take_backup(client, backup_dir, include_storage, deadline, request_timeout=None, backend_image=None,
                clock=time.time):
    """Export, verify, write the sidecars, then move the ZIP into backup_dir. Returns the manifest."""
    started = clock()
    ensure_private_dir(backup_dir)
    staging = os.path.join(backup_dir, STAGING)
    ensure_private_dir(staging)
    variables = client.list_env(timeout=request_timeout)
    doc = request_export(client, include_storage, deadline, request_timeout=request_timeout)
    start_ts = int64(doc["start_ts"])
    written = []
    staged = None
    try:
        download = download_export(client, start_ts, staging, request_timeout=request_timeout, force=True)
        staged = download["path"]
        name = os.path.basename(staged)
        match = ZIP_RE.match(name)
        if not match:
            raise ConvexError("the export's file name %r is not usable as a backup name." % name, kind="malformed")
        base = match.group("base")
        final = os.path.join(backup_dir, name)
        manifest_path = os.path.join(backup_dir, base + MANIFEST_SUFFIX)
        env_path = os.path.join(backup_dir, base + ENV_SUFFIX)
        for path in (final, manifest_path, env_path):
            if os.path.exists(path):
                raise ConvexError("%s already exists; a backup set is never overwritten." % path, kind="state")
        counts = table_counts(staged)
        try:
            version = client.version(timeout=request_timeout)
        except ConvexError:
            version = None
        written.append(env_path)
        write_private_json(env_path, {"environmentVariables": variables})
        finished = clock()
        manifest = {
            "format": MANIFEST_FORMAT,
            "file": name,
            "env_file": os.path.basename(env_path),
            "created": iso_utc(start_ts / 1e9),
            "created_unix": round(start_ts / 1e9, 3),
            "start_ts": start_ts,
            "export_id": doc.get("_id"),
            "size": download["size"],
            "sha256": download["sha256"],
            "tables": counts,
            "documents": document_count(counts),
            "include_storage": bool(include_storage),
            "backend_image": backend_image,
            "backend_version": version,
            "instance_name": client.instance_name,
            "env_count": len(variables),
            "env_sha256": env_digest(variables),
            "elapsed": round(finished - started, 3),
        }
        written.append(manifest_path)
        write_private_json(manifest_path, manifest)
        os.replace(staged, final)
        staged = None
        return dict(manifest, path=final, manifest_path=manifest_path, env_path=env_path)
    except BaseException:
        for path in written:
            if os.path.exists(path):
                os.unlink(path)
        raise
    finally:
        if staged and os.path.exists(staged):
            os.unlink(staged)


# ---------------------------------------------------------------------------- scan
def scan(backup_dir):
    """(sets, partial): sets is a list of dicts (base, zip, manifest path, status, created_unix,
    manifest), newest first; partial lists file names a run left behind (never touched)."""
    try:
        names = sorted(os.listdir(backup_dir))
    except FileNotFoundError:
        return [], []
    sets, partial = {}, []
    for name in names:
        path = os.path.join(backup_dir, name)
        if name == STAGING:
            partial.extend(os.path.join(STAGING, n) for n in sorted(os.listdir(path)))
            continue
        if name.startswith(".") or name.endswith(".part") or not os.path.isfile(path):
            partial.append(name)
            continue
        for suffix, key in ((".zip", "zip"), (MANIFEST_SUFFIX, "manifest_path"), (ENV_SUFFIX, "env_path")):
            if name.endswith(suffix):
                sets.setdefault(name[:-len(suffix)], {})[key] = path
                break
    result = []
    for base, entry in sets.items():
        entry.update(base=base, status=INCOMPLETE, created_unix=None, manifest=None, problem=None)
        if "zip" not in entry or "manifest_path" not in entry:
            entry["problem"] = "missing %s" % ("the ZIP" if "zip" not in entry else "its manifest")
        else:
            try:
                with open(entry["manifest_path"], "r") as handle:
                    manifest = json.load(handle)
                entry["manifest"] = manifest
                entry["created_unix"] = float(manifest["created_unix"])
                if os.path.getsize(entry["zip"]) != int(manifest["size"]):
                    entry["problem"] = "size %d differs from the manifest's %s" % (
                        os.path.getsize(entry["zip"]), manifest["size"])
                else:
                    entry["status"] = GOOD
            except (OSError, ValueError, KeyError, TypeError) as exc:
                entry["problem"] = "unreadable manifest (%s)" % exc
        result.append(entry)
    result.sort(key=lambda e: (e["created_unix"] or 0.0, e["base"]), reverse=True)
    return result, partial


# ---------------------------------------------------------------------------- retention
def plan_retention(backups, keep_daily, keep_weekly):
    """Which good backups to keep: backups is [(name, created_unix)] of GOOD sets only.

    Newest first, like restic's --keep-daily/--keep-weekly: the newest backup of each of the
    keep_daily most recent UTC days that have one, and of each of the keep_weekly most recent
    ISO weeks. The newest backup is always kept, whatever the counts.
    Returns (keep: {name: [reasons]}, delete: [names], newest first).
    """
    if keep_daily < 0 or keep_weekly < 0:
        raise ValueError("keep_daily and keep_weekly must be >= 0 (got %r, %r)" % (keep_daily, keep_weekly))
    ordered = sorted(backups, key=lambda b: (b[1], b[0]), reverse=True)
    keep = {}
    buckets = (("daily", keep_daily, lambda t: time.strftime("%Y-%m-%d", time.gmtime(t))),
               ("weekly", keep_weekly, lambda t: "%04d-W%02d" % tuple(_iso_week(t))))
    for label, count, bucket_of in buckets:
        seen = []
        for name, created in ordered:
            bucket = bucket_of(created)
            if bucket in seen:
                continue
            if len(seen) >= count:
                break
            seen.append(bucket)
            keep.setdefault(name, []).append("%s %s" % (label, bucket))
    if ordered:
        keep.setdefault(ordered[0][0], []).append("newest")
    delete = [name for name, _created in ordered if name not in keep]
    return keep, delete


def _iso_week(seconds):
    year, week, _day = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).isocalendar()
    return year, week


def apply_retention(backup_dir, keep_daily, keep_weekly, dry_run=False):
    """Delete the good sets plan_retention does not keep. Incomplete sets and partial files
    are reported, never deleted. Returns {kept, deleted, incomplete, partial}."""
    sets, partial = scan(backup_dir)
    good = [(s["base"], s["created_unix"]) for s in sets if s["status"] == GOOD]
    keep, delete = plan_retention(good, keep_daily, keep_weekly)
    by_base = dict((s["base"], s) for s in sets)
    for base in delete if not dry_run else []:
        entry = by_base[base]
        # ZIP first: if this stops half-way, what is left is an incomplete set, never a ZIP
        # without its manifest that convex_health would count as a backup.
        for key in ("zip", "env_path", "manifest_path"):
            if entry.get(key) and os.path.exists(entry[key]):
                os.unlink(entry[key])
    return {
        "kept": [{"name": base + ".zip", "reasons": keep[base]} for base, _c in sorted(good, key=lambda g: -g[1])
                 if base in keep],
        "deleted": [base + ".zip" for base in delete],
        "incomplete": [{"name": s["base"], "problem": s["problem"]} for s in sets if s["status"] != GOOD],
        "partial": partial,
    }


# ---------------------------------------------------------------------------- verify and restore
def resolve(backup_dir, which):
    """The set named by which: 'latest' (newest good set), a ZIP name, a base name or a path."""
    sets, _partial = scan(backup_dir)
    if which in (None, "", "latest"):
        for entry in sets:
            if entry["status"] == GOOD:
                return entry
        raise ConvexError("no good backup in %s (a ZIP with its manifest): run playbooks/backup.yml first."
                          % backup_dir, kind="config")
    base = os.path.basename(which)
    for suffix in (".zip", MANIFEST_SUFFIX, ENV_SUFFIX):
        if base.endswith(suffix):
            base = base[:-len(suffix)]
    for entry in sets:
        if entry["base"] == base:
            return entry
    names = ", ".join(e["base"] + ".zip" for e in sets[:5]) or "none"
    raise ConvexError("backup %r is not in %s; newest there: %s. Give a ZIP name from that list or 'latest'."
                      % (which, backup_dir, names), kind="config")


def verify_set(entry):
    """Check a set end to end (manifest, size, sha256, ZIP CRCs, table counts, env sidecar).
    Returns (manifest, variables); raises ConvexError(kind='malformed') naming the problem."""
    where = entry.get("zip") or entry.get("base")
    if entry["status"] != GOOD:
        raise ConvexError("backup %s is incomplete (%s); it cannot be restored." % (where, entry["problem"]),
                          kind="malformed")
    manifest = entry["manifest"]
    digest = file_sha256(entry["zip"])
    if digest != manifest.get("sha256"):
        raise ConvexError("backup %s is corrupt: its sha256 %s differs from the manifest's %s. Restore another "
                          "backup." % (where, digest, manifest.get("sha256")), kind="malformed")
    try:
        verify_zip(entry["zip"])
    except ValueError as exc:
        raise ConvexError("backup %s is corrupt (%s). Restore another backup." % (where, exc), kind="malformed")
    counts = table_counts(entry["zip"])
    if counts != manifest.get("tables"):
        raise ConvexError("backup %s: table counts %r differ from the manifest's %r." % (
            where, counts, manifest.get("tables")), kind="malformed")
    env_path = entry.get("env_path")
    if not env_path:
        raise ConvexError("backup %s has no %s sidecar: its environment variables are lost." % (where, ENV_SUFFIX),
                          kind="malformed")
    try:
        with open(env_path, "r") as handle:
            variables = json.load(handle)["environmentVariables"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConvexError("cannot read %s: %s" % (env_path, type(exc).__name__), kind="malformed")
    if env_digest(variables) != manifest.get("env_sha256"):
        raise ConvexError("%s does not match the manifest's env_sha256: it was changed or damaged." % env_path,
                          kind="malformed")
    return manifest, variables


def env_changes(current, wanted):
    """The update_environment_variables changes that make current equal wanted (None deletes)."""
    changes = [{"name": n, "value": wanted[n]} for n in sorted(wanted) if current.get(n) != wanted[n]]
    changes += [{"name": n, "value": None} for n in sorted(current) if n not in wanted]
    return changes


def restore_set(client, entry, deadline, chunk_size, restore_env=True, request_timeout=None):
    """Verify the set, import it with replaceAll, then make the variables equal the sidecar's."""
    manifest, variables = verify_set(entry)
    result = run_import(client, entry["zip"], "replaceAll", deadline, chunk_size, request_timeout)
    # Reported, not enforced: what the backend counts in num_rows_written (for example file
    # storage rows) is not specified by the reference.
    result["documents_expected"] = manifest.get("documents")
    changed_names = []
    if restore_env:
        changes = env_changes(client.list_env(timeout=request_timeout), variables)
        if changes:
            client.update_env(changes, timeout=request_timeout)
        changed_names = [c["name"] for c in changes]
    return dict(result, manifest=manifest, env_changed=changed_names)


# ---------------------------------------------------------------------------- the scheduled job
JOB_KEYS = {
    "url": str, "admin_key_env_file": str, "backup_dir": str, "include_storage": bool, "keep_daily": int,
    "keep_weekly": int, "timeout": (int, float), "request_timeout": (int, float), "validate_certs": bool,
    "ca_path": (str, type(None)), "backend_image": (str, type(None)), "instance_name": (str, type(None)),
}
# Optional (a config written before offsite copies existed has none): null or the offsite section.
OFFSITE_KEYS = {
    "restic": str, "password_file": str, "cache_dir": (str, type(None)), "status_file": str, "stage_dir": str,
    "repositories": list,
    "keep_daily": int, "keep_weekly": int, "check_every_days": int, "check_subset": (str, type(None)),
    "timeout": (int, float),
}


def load_job_config(path):
    """The job's JSON config, checked; raises ValueError naming the key, the value and the expectation."""
    with open(path, "r") as handle:
        config = json.load(handle)
    if not isinstance(config, dict):
        raise ValueError("%s: expected a JSON object" % path)
    for key, kind in JOB_KEYS.items():
        if key not in config:
            raise ValueError("%s: key %r is missing; re-run the convex_backup role to rewrite it" % (path, key))
        value = config[key]
        if isinstance(value, bool) and kind in (int, (int, float)) or not isinstance(value, kind):
            raise ValueError("%s: %s=%r is not a %s" % (path, key, value, getattr(kind, "__name__", kind)))
    section = config.setdefault("offsite", None)
    if section is not None:
        if not isinstance(section, dict):
            raise ValueError("%s: offsite must be null or an object" % path)
        for key, kind in OFFSITE_KEYS.items():
            value = section.get(key)
            if key not in section or isinstance(value, bool) or not isinstance(value, kind):
                raise ValueError("%s: offsite.%s=%r is missing or not a %s; re-run the convex_backup role"
                                 % (path, key, value, getattr(kind, "__name__", kind)))
        problems = offsite_copies.check_repositories(section["repositories"])
        if problems:
            raise ValueError("%s: offsite: %s" % (path, "; ".join(problems)))
    return config


def run_job(config, client_factory, deadline_factory, log):
    """One scheduled run: take a backup, apply retention, then copy the new set to every offsite
    repository. Returns 0 (ok) or 1 (failed, including any offsite repository that failed).

    Retention runs only after a good new backup, so a failing backend never ages the
    directory into deleting what is there; an offsite failure never touches the local set.
    """
    key, problem = env_file_reader.admin_key_or_problem(config["admin_key_env_file"])
    if problem:
        log("FAILED: " + problem)
        return 1
    try:
        client = client_factory(config, key)
        manifest = take_backup(client, config["backup_dir"], config["include_storage"],
                               deadline_factory(config["timeout"]), request_timeout=config["request_timeout"],
                               backend_image=config["backend_image"])
    except ConvexError as exc:
        log("FAILED: backup of %s: %s" % (config["url"], exc.message))
        return 1
    except OSError as exc:
        log("FAILED: cannot write under %s: %s" % (config["backup_dir"], exc))
        return 1
    log("backup %s: %d bytes, sha256 %s, %d documents in %d tables, %d environment variables, %.1fs" % (
        manifest["file"], manifest["size"], manifest["sha256"], manifest["documents"],
        len([t for t in manifest["tables"] if t.split("/")[-1] != "_storage"]),
        manifest["env_count"], manifest["elapsed"]))
    try:
        outcome = apply_retention(config["backup_dir"], config["keep_daily"], config["keep_weekly"])
    except OSError as exc:
        log("FAILED: retention in %s: %s (the new backup is kept)" % (config["backup_dir"], exc))
        return 1
    log("retention: kept %d, deleted %d%s%s" % (
        len(outcome["kept"]), len(outcome["deleted"]),
        (" (%s)" % ", ".join(outcome["deleted"])) if outcome["deleted"] else "",
        "; left alone: %s" % ", ".join(
            [i["name"] for i in outcome["incomplete"]] + outcome["partial"])
        if outcome["incomplete"] or outcome["partial"] else ""))
    if config.get("offsite") and config["offsite"]["repositories"]:
        failed = offsite_copies.copy_offsite(config["offsite"], manifest, config["backup_dir"],
                                             config["instance_name"] or "convex", log, write_private_json)
        if failed:
            return 1
    return 0
