# -*- coding: utf-8 -*-
# Copyright: joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to joelclaw.macmini: this module_util may change without notice.
"""Offsite, encrypted copies of Convex backup sets with restic.

Standard library only: the scheduled job on the host runs this file without Ansible
(roles/convex_backup), beside _convex_backup.

Each repository is a dict: {"name", "type": "local", "path"} or {"name", "type": "sftp",
"host", "user", "path", "port"?, "identity_file"?, "known_hosts_file"?}. The password never
goes on a command line: restic reads it from RESTIC_PASSWORD_FILE, a 0600 file.

restic's behaviour used here was read from restic/restic v0.19.1 (6aa3a516):
  - exit codes (cmd/restic/main.go, doc/075_scripting.rst): 0 ok, 1 failure, 3 forget could not
    remove some snapshots, 10 repository does not exist (since 0.17.0), 11 lock failed,
    12 wrong password (since 0.17.1);
  - `restic cat config` reads the repository's config: exit 10 when there is none;
  - sftp URLs sftp://user@host:port//absolute/path and the sftp.args option
    (internal/backend/sftp/config.go, sftp.go buildSSHCommand);
  - `backup --time "2006-01-02 15:04:05"` is parsed in the local zone (TZ=UTC here), and
    `forget --keep-daily/--keep-weekly` buckets by the snapshot's own year-day / ISO week
    (internal/data/snapshot_policy.go), so with UTC times it buckets like the local retention.
"""

from __future__ import annotations

import calendar
import json
import os
import re
import shlex
import stat
import subprocess
import time

TAG = "convex-backup"
SET_TAG_PREFIX = "set:"
REPO_TYPES = ("local", "sftp")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
HOST_RE = re.compile(r"^[A-Za-z0-9._:-]+\Z")
USER_RE = re.compile(r"^[A-Za-z0-9._-]+\Z")
SUBSET_RE = re.compile(r"^([0-9]+(\.[0-9]+)?%|[0-9]+/[0-9]+|[0-9]+[KMGT]?)\Z")
EXIT_NO_REPOSITORY, EXIT_LOCKED, EXIT_WRONG_PASSWORD = 10, 11, 12


class OffsiteError(Exception):
    """A restic call failed; kind is one of config, no_repository, wrong_password, locked, failed."""

    def __init__(self, message, kind="failed"):
        super().__init__(message)
        self.message = message
        self.kind = kind


# ---------------------------------------------------------------------------- input
def check_repositories(repositories):
    """Problems with the repository list, as messages naming the entry, the field and the fix."""
    problems = []
    if not isinstance(repositories, list):
        return ["repositories must be a list of dicts, got %r" % (repositories,)]
    names = []
    for index, repo in enumerate(repositories):
        where = "repository #%d" % (index + 1)
        if not isinstance(repo, dict):
            problems.append("%s is %r: expected a dict with name, type and path" % (where, repo))
            continue
        name = repo.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            problems.append("%s: name=%r must be letters, digits, '.', '_' or '-'" % (where, name))
        else:
            where = "repository %s" % name
            if name in names:
                problems.append("%s: the name is used twice; give each repository its own name" % where)
            names.append(name)
        kind = repo.get("type")
        if kind not in REPO_TYPES:
            problems.append("%s: type=%r is not a known repository type; use one of %s"
                            % (where, kind, ", ".join(REPO_TYPES)))
            continue
        path = repo.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            problems.append("%s: path=%r must be an absolute path" % (where, path))
        allowed = {"name", "type", "path"}
        if kind == "sftp":
            allowed |= {"host", "user", "port", "identity_file", "known_hosts_file"}
            if not isinstance(repo.get("host"), str) or not HOST_RE.match(repo.get("host") or ""):
                problems.append("%s: host=%r must be a host name or address" % (where, repo.get("host")))
            if not isinstance(repo.get("user"), str) or not USER_RE.match(repo.get("user") or ""):
                problems.append("%s: user=%r must be the SSH user name" % (where, repo.get("user")))
            port = repo.get("port", 22)
            if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
                problems.append("%s: port=%r must be a TCP port 1-65535" % (where, port))
            for key in ("identity_file", "known_hosts_file"):
                value = repo.get(key)
                if value is not None and (not isinstance(value, str) or not value.startswith("/")):
                    problems.append("%s: %s=%r must be an absolute path" % (where, key, value))
        unknown = sorted(set(repo) - allowed)
        if unknown:
            problems.append("%s: unknown keys %s for type %s (allowed: %s)"
                            % (where, ", ".join(unknown), kind, ", ".join(sorted(allowed))))
    return problems


def check_password_file(path):
    """Refuse a password file that is missing, empty or readable by others."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise OffsiteError("the restic password file %s cannot be read (%s); converge the convex_backup role "
                           "with convex_backup_offsite_password set." % (path, exc.strerror), kind="config")
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise OffsiteError("the restic password file %s is mode %04o; it must be 0600." % (
            path, stat.S_IMODE(info.st_mode)), kind="config")
    if info.st_size == 0:
        raise OffsiteError("the restic password file %s is empty." % path, kind="config")


def repository_url(repo):
    if repo["type"] == "local":
        return repo["path"]
    port = repo.get("port", 22)
    return "sftp://%s@%s%s/%s" % (repo["user"], repo["host"], "" if port == 22 else ":%d" % port, repo["path"])


def sftp_ssh_args(repo):
    """The ssh arguments restic's sftp backend adds (-o sftp.args): never prompt, known hosts only."""
    args = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=20",
            "-o", "ServerAliveInterval=30"]
    if repo.get("identity_file"):
        args += ["-i", repo["identity_file"], "-o", "IdentitiesOnly=yes"]
    if repo.get("known_hosts_file"):
        args += ["-o", "UserKnownHostsFile=" + repo["known_hosts_file"]]
    return " ".join(shlex.quote(a) for a in args)


# ---------------------------------------------------------------------------- restic
class Restic:
    """Runs restic against one repository at a time; the password only in RESTIC_PASSWORD_FILE."""

    def __init__(self, binary, password_file, cache_dir=None, timeout=3600, run=subprocess.run):
        self.binary = binary
        self.password_file = password_file
        self.cache_dir = cache_dir
        self.timeout = timeout
        self._run = run

    def env(self, repo):
        env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
        env.update(RESTIC_REPOSITORY=repository_url(repo), RESTIC_PASSWORD_FILE=self.password_file, TZ="UTC",
                   RESTIC_PROGRESS_FPS="0.016")
        if self.cache_dir:
            env["RESTIC_CACHE_DIR"] = self.cache_dir
        return env

    def call(self, repo, args, cwd=None, ok=(0,)):
        argv = [self.binary]
        if repo["type"] == "sftp":
            argv += ["-o", "sftp.args=" + sftp_ssh_args(repo)]
        argv += list(args)
        try:
            proc = self._run(argv, cwd=cwd, env=self.env(repo), stdin=subprocess.DEVNULL, capture_output=True,
                             text=True, timeout=self.timeout, check=False)
        except FileNotFoundError:
            raise OffsiteError("restic is not at %s; install it (brew install restic on the Mac) or set "
                               "convex_backup_restic." % self.binary, kind="config")
        except subprocess.TimeoutExpired:
            raise OffsiteError("restic %s on repository %s took longer than %ss" % (args[0], repo["name"], self.timeout))
        if proc.returncode not in ok:
            raise self.error(repo, args[0], proc)
        return proc

    @staticmethod
    def error(repo, command, proc):
        detail = " ".join((proc.stderr or "").strip().splitlines()[-3:])[:400]
        where = "repository %s (%s)" % (repo["name"], repository_url(repo))
        if proc.returncode == EXIT_WRONG_PASSWORD:
            return OffsiteError("%s: wrong password (restic exit 12): the vault's convex_backup_offsite_password is "
                                "not this repository's. %s" % (where, detail), kind="wrong_password")
        if proc.returncode == EXIT_NO_REPOSITORY:
            return OffsiteError("%s does not exist (restic exit 10). %s" % (where, detail), kind="no_repository")
        if proc.returncode == EXIT_LOCKED:
            return OffsiteError("%s is locked by another restic (exit 11); `restic unlock` removes a stale lock. %s"
                                % (where, detail), kind="locked")
        return OffsiteError("%s: restic %s failed (exit %d): %s" % (where, command, proc.returncode, detail))

    # ------------------------------------------------------------------------ operations
    def exists(self, repo):
        """True when the repository has a config (restic cat config exit 0), False on exit 10 (no
        repository there); a wrong password, an unreachable host or a lock raise."""
        try:
            self.call(repo, ["cat", "config"])
            return True
        except OffsiteError as exc:
            if exc.kind != "no_repository":
                raise
        return False

    def init(self, repo):
        """restic init, only ever after restic said exit 10 (no repository there). A local
        repository's parent must exist: an external disk that is not mounted must not turn into
        a new repository on the Mac's own disk (restic init creates missing directories)."""
        if repo["type"] == "local" and not os.path.isdir(os.path.dirname(repo["path"].rstrip("/"))):
            raise OffsiteError("repository %s: %s does not exist; is the disk mounted? (the repository is "
                               "initialised only inside an existing directory)" % (
                                   repo["name"], os.path.dirname(repo["path"].rstrip("/"))), kind="config")
        self.call(repo, ["init"])

    def snapshots(self, repo, host=None, tags=None):
        args = ["snapshots", "--json", "--tag", ",".join([TAG] + list(tags or []))]
        if host:
            args += ["--host", host]
        return json.loads(self.call(repo, args).stdout or "[]") or []

    def copy_set(self, repo, stage, host, set_name, created):
        """restic backup of the stage directory (see stage_set), tagged convex-backup and
        set:<name>, at the set's own creation time (UTC)."""
        # --ignore-ctime: the staged ZIP is a hard link, whose ctime moves whenever local
        # retention removes another link to it; its mtime, size and inode still say "unchanged".
        args = ["backup", "--json", "--quiet", "--ignore-ctime", "--host", host, "--tag", TAG,
                "--tag", SET_TAG_PREFIX + set_name,
                "--time", time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(created)), "--", stage]
        proc = self.call(repo, args)
        summary = {}
        for line in proc.stdout.splitlines():
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict) and message.get("message_type") == "summary":
                summary = message
        return {"snapshot": (summary.get("snapshot_id") or "")[:8], "skipped": False,
                "added": summary.get("data_added"), "added_packed": summary.get("data_added_packed")}

    def forget(self, repo, host, keep_daily, keep_weekly):
        """Mirror the local retention (the newest snapshot is always kept, as locally).
        Returns (removed, kept snapshots) from restic's --json report."""
        args = ["forget", "--prune", "--json", "--host", host, "--tag", TAG, "--keep-last", "1",
                "--keep-daily", str(keep_daily), "--keep-weekly", str(keep_weekly)]
        proc = self.call(repo, args)
        removed, kept = 0, []
        for line in proc.stdout.splitlines():
            try:
                groups = json.loads(line)
            except ValueError:
                continue
            if isinstance(groups, list):
                for group in groups:
                    if isinstance(group, dict):
                        removed += len(group.get("remove") or [])
                        kept += group.get("keep") or []
        return removed, kept

    def check(self, repo, subset):
        args = ["check"] + (["--read-data-subset", subset] if subset else [])
        self.call(repo, args)

    def restore(self, repo, host, set_name, target):
        """Restore one set (set_name, or None for the newest) into target under the set's own
        file names (the manifest's). Returns {set, snapshot, time, files}."""
        found = self.snapshots(repo, host, [SET_TAG_PREFIX + set_name] if set_name else None)
        if not found:
            raise OffsiteError("repository %s holds no snapshot of %s%s." % (
                repo["name"], "set %s" % set_name if set_name else "any backup set",
                " for host %s" % host if host else ""), kind="config")
        newest = max(found, key=lambda s: snapshot_unix(s["time"]))
        paths = newest.get("paths") or []
        if len(paths) != 1:
            raise OffsiteError("snapshot %s of repository %s has paths %r; expected the one stage directory."
                               % (newest["short_id"], repo["name"], paths))
        self.call(repo, ["restore", "%s:%s" % (newest["id"], paths[0]), "--target", target])
        return dict(unstage(target), snapshot=newest["short_id"], time=newest["time"])


# ---------------------------------------------------------------------------- stage
STAGE_ZIP, STAGE_ENV, STAGE_MANIFEST = "backup.zip", "backup.env.json", "backup.manifest.json"


def _link_or_copy(source, dest):
    tmp = dest + ".part"
    if os.path.exists(tmp):
        os.unlink(tmp)
    try:
        os.link(source, tmp)
    except OSError:
        # another file system (or no hard links there): a private copy
        with open(source, "rb") as src:
            handle = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(handle, "wb") as out:
                while True:
                    chunk = src.read(1024 * 1024)
                    if not chunk:
                        break
                    out.write(chunk)
    os.replace(tmp, dest)


def stage_set(stage, backup_dir, manifest):
    """Lay out the set under fixed names in stage (0700), the ZIP as a hard link to the set's.

    The names never change from one set to the next, so restic finds its parent snapshot and,
    when the new ZIP has the same sha256 as the staged one (an unchanged backend: the export's
    ZIP entries carry a fixed DOS time, async_zip's ZipDateTime::default()), the staged file
    is left as it is and restic does not read it again. The sidecars are always replaced."""
    os.makedirs(stage, mode=0o700, exist_ok=True)
    os.chmod(stage, 0o700)
    staged_zip = os.path.join(stage, STAGE_ZIP)
    previous = {}
    try:
        with open(os.path.join(stage, STAGE_MANIFEST), "r") as handle:
            previous = json.load(handle)
    except (OSError, ValueError):
        previous = {}
    same = (isinstance(previous, dict) and previous.get("sha256") == manifest["sha256"]
            and os.path.isfile(staged_zip) and os.path.getsize(staged_zip) == manifest["size"])
    if not same:
        _link_or_copy(os.path.join(backup_dir, manifest["file"]), staged_zip)
    base = manifest["file"][:-len(".zip")]
    _link_or_copy(os.path.join(backup_dir, manifest["env_file"]), os.path.join(stage, STAGE_ENV))
    _link_or_copy(os.path.join(backup_dir, base + ".manifest.json"), os.path.join(stage, STAGE_MANIFEST))
    return not same


def unstage(directory):
    """Rename restored stage files to the set's own names (the manifest's); returns {set, files}."""
    try:
        with open(os.path.join(directory, STAGE_MANIFEST), "r") as handle:
            manifest = json.load(handle)
        name, env_name = manifest["file"], manifest["env_file"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OffsiteError("the restored set in %s has no readable manifest (%s)." % (directory, exc))
    base = name[:-len(".zip")]
    for path in (name, env_name, base + ".manifest.json"):
        if os.path.basename(path) != path or path.startswith("."):
            raise OffsiteError("the restored manifest names a file %r outside its directory." % path)
    os.rename(os.path.join(directory, STAGE_ZIP), os.path.join(directory, name))
    os.rename(os.path.join(directory, STAGE_ENV), os.path.join(directory, env_name))
    os.rename(os.path.join(directory, STAGE_MANIFEST), os.path.join(directory, base + ".manifest.json"))
    return {"set": base, "files": [name, env_name, base + ".manifest.json"]}


def snapshot_unix(text):
    """restic's RFC 3339 snapshot time (nanoseconds, any offset) as Unix seconds."""
    match = re.match(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)\Z", text)
    if not match:
        raise ValueError("not an RFC 3339 time: %r" % text)
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    seconds += float(match.group(7) or 0)
    zone = match.group(8)
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return seconds


# ---------------------------------------------------------------------------- the job's step
STATUS_FORMAT = 1


def read_status(path):
    try:
        with open(path, "r") as handle:
            status = json.load(handle)
        return status if isinstance(status, dict) else {}
    except (OSError, ValueError):
        return {}


def copy_offsite(offsite, manifest, backup_dir, host, log, write_status, clock=time.time, restic=None):
    """Copy one verified set to every repository, then forget/prune and (when due) check.

    Every repository is tried even when one fails; the local set is never touched. Returns the
    names of the repositories that failed (empty: all good). write_status(path, data) records,
    per repository, the newest snapshot time, the last error and the last check.

    One or two restic runs per repository and set (each derives the key from the password,
    restic's scrypt, calibrated at init): backup, then forget (once per UTC day). A repository is initialised only when the
    backup said exit 10 (no repository), and the backup is then run once more.
    """
    restic = restic or Restic(offsite["restic"], offsite["password_file"], offsite.get("cache_dir"),
                              timeout=offsite.get("timeout", 3600))
    status_path = offsite["status_file"]
    status = read_status(status_path)
    repos_status = status.get("repositories") if isinstance(status.get("repositories"), dict) else {}
    failed = []
    base = manifest["file"][:-len(".zip")]
    stage = os.path.join(offsite["stage_dir"], host)
    now = clock()
    try:
        check_password_file(offsite["password_file"])
        stage_set(stage, backup_dir, manifest)
    except (OSError, OffsiteError) as exc:
        log("FAILED: offsite: %s; no repository was written (the local set %s is kept)"
            % (getattr(exc, "message", None) or "cannot stage the set in %s (%s)" % (stage, exc), manifest["file"]))
        failed = [r["name"] for r in offsite["repositories"]]
    for repo in offsite["repositories"] if not failed else []:
        entry = dict(repos_status.get(repo["name"]) or {})
        entry.update(type=repo["type"], url=repository_url(repo))
        try:
            initialised = False
            if entry.get("last_set") == manifest["file"] and not entry.get("last_error"):
                copied = {"snapshot": entry.get("last_snapshot"), "skipped": True}
            else:
                try:
                    copied = restic.copy_set(repo, stage, host, base, manifest["created_unix"])
                except OffsiteError as exc:
                    if exc.kind != "no_repository":
                        raise
                    restic.init(repo)
                    initialised = True
                    copied = restic.copy_set(repo, stage, host, base, manifest["created_unix"])
            entry.update(last_copy_unix=now, last_set=manifest["file"], last_snapshot=copied["snapshot"])
            # forget --prune at most once per UTC day and repository: the policy's finest grain is
            # a day, and prune rewrites packs. A second set the same day waits for the next run.
            today = time.strftime("%Y-%m-%d", time.gmtime(now))
            if entry.get("last_forget_day") != today or entry.get("newest_snapshot_unix") is None:
                removed, kept = restic.forget(repo, host, offsite["keep_daily"], offsite["keep_weekly"])
                newest = max((snapshot_unix(s["time"]) for s in kept if s.get("time")), default=None)
                entry.update(newest_snapshot_unix=newest, snapshots=len(kept), last_forget_day=today)
                retention = "retention removed %d, kept %d" % (removed, len(kept))
            else:
                if not copied["skipped"]:
                    entry["snapshots"] = (entry.get("snapshots") or 0) + 1
                entry["newest_snapshot_unix"] = max(entry["newest_snapshot_unix"], float(manifest["created_unix"]))
                retention = "retention already ran today"
            entry.update(last_error=None)
            log("offsite %s: %s %s as snapshot %s%s; %s" % (
                repo["name"], "already holds" if copied["skipped"] else "copied", manifest["file"],
                copied["snapshot"], " (repository initialised)" if initialised else "", retention))
            every = offsite.get("check_every_days", 7)
            if every and now - (entry.get("last_check_unix") or 0) >= every * 86400 - 3600:
                try:
                    restic.check(repo, offsite.get("check_subset"))
                    entry.update(last_check_unix=now, last_check_ok=True, last_check_error=None)
                    log("offsite %s: restic check --read-data-subset %s passed"
                        % (repo["name"], offsite.get("check_subset")))
                except OffsiteError as exc:
                    entry.update(last_check_unix=now, last_check_ok=False, last_check_error=exc.message)
                    raise OffsiteError("check failed: " + exc.message, exc.kind)
        except OffsiteError as exc:
            entry.update(last_error=exc.message, last_error_unix=now)
            failed.append(repo["name"])
            log("FAILED: offsite %s: %s (the local set %s is kept)" % (repo["name"], exc.message, manifest["file"]))
        repos_status[repo["name"]] = entry
    names = [r["name"] for r in offsite["repositories"]]
    for name in [n for n in repos_status if n not in names]:
        del repos_status[name]
    for name in failed:
        entry = repos_status.setdefault(name, {})
        entry.setdefault("last_error", "the set could not be staged")
    write_status(status_path, {"format": STATUS_FORMAT, "updated_unix": now, "repositories": repos_status})
    return failed
