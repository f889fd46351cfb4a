# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test stand-ins for the macOS system CLIs macos_preflight reads: sw_vers, sysctl, fdesetup, defaults,
pmset and brew. install() writes each as a small /bin/sh script with its answers baked in (no Python
start-up per call, which keeps the tests fast). Each answer follows the tool's man page (macOS 15, as printed by `man`),
except where marked "guessed":
  - sw_vers(1): `-productVersion` prints only the version, e.g. "15.5".
  - sysctl(8): `-n name` prints only the value; an unknown OID prints
    "sysctl: unknown oid '<name>'" on stderr and exits 1 (the Intel case for hw.optional.arm64 is guessed).
  - fdesetup(8): `status` prints "FileVault is On." / "FileVault is Off."; while converting, a second
    line ("Encryption in progress: ..." ; wording guessed).
  - defaults(1): `read <domain> <key>` prints the value; a missing pair prints
    "The domain/default pair of (<domain>, <key>) does not exist" on stderr and exits 1.
  - pmset(1): `-g` prints "System-wide power settings:" / "Currently in use:" and one "<setting> <value>"
    per line; autorestart is "automatic restart on power loss" (0/1). The exact column layout is guessed.
  - brew(1) (Homebrew/brew Library/Homebrew/cmd/--version.rb, --prefix.rb): `--version` prints
    "Homebrew <version>"; `--prefix` prints the prefix (/opt/homebrew on Apple silicon).
A tool whose key is null in the state is not installed (install() writes no wrapper for it).
"""

from __future__ import annotations

import os
import shlex
import stat

DEFAULT = {
    "sw_vers": "15.5",
    "sysctl": {"hw.optional.arm64": "1"},
    "fdesetup": "Off",
    "defaults": {"/Library/Preferences/com.apple.loginwindow": {"autoLoginUser": "joel"}},
    "pmset": {"autorestart": 1},
    "brew": "4.6.3",
}
TOOLS = tuple(DEFAULT)


def _case(answers, usage):
    """A shell `case "$*"` over {args: (stdout, stderr, rc)}; anything else is refused like an unknown flag."""
    lines = ['case "$*" in']
    for argv, (out, err, rc) in answers.items():
        lines.append('  %s)' % shlex.quote(argv))
        if out is not None:
            lines.append('    printf %%s %s' % shlex.quote(out))
        if err is not None:
            lines.append('    printf %%s %s >&2' % shlex.quote(err))
        lines.append('    exit %d ;;' % rc)
    lines.append('  *) echo "fake: $* is not modelled (%s)" >&2; exit 64 ;;' % usage)
    lines.append('esac')
    return '\n'.join(lines) + '\n'


def scripts(state):
    """{tool: shell script} for the installed tools of state."""
    result = {}
    if state["sw_vers"] is not None:
        result["sw_vers"] = _case({"-productVersion": (state["sw_vers"] + "\n", None, 0)}, "sw_vers(1)")
    if state["sysctl"] is not None:
        answers = {"-n %s" % k: (str(v) + "\n", None, 0) for k, v in state["sysctl"].items()}
        script = _case(answers, "sysctl(8)")
        result["sysctl"] = script.replace('  *) echo', '  "-n "*) echo "sysctl: unknown oid \'${2}\'" >&2; exit 1 ;;\n  *) echo', 1)
    if state["fdesetup"] is not None:
        result["fdesetup"] = _case({"status": ("FileVault is %s.\n" % state["fdesetup"], None, 0)}, "fdesetup(8)")
    if state["defaults"] is not None:
        answers = {}
        for domain, keys in state["defaults"].items():
            for key, value in keys.items():
                answers["read %s %s" % (domain, key)] = (str(value) + "\n", None, 0)
        script = _case(answers, "defaults(1)")
        result["defaults"] = script.replace(
            '  *) echo', '  "read "*) printf "\\nThe domain/default pair of (%s, %s) does not exist\\n" "$2" "$3" >&2; '
            'exit 1 ;;\n  *) echo', 1)
    if state["pmset"] is not None:
        settings = dict({"sleep": 0, "disksleep": 10}, **state["pmset"])
        out = "System-wide power settings:\nCurrently in use:\n" + "".join(
            " %-20s %s\n" % (k, v) for k, v in sorted(settings.items()))
        result["pmset"] = _case({"-g": (out, None, 0)}, "pmset(1)")
    if state["brew"] is not None:
        result["brew"] = _case({"--version": ("Homebrew %s\n" % state["brew"], None, 0),
                                "--prefix": ("/opt/homebrew\n", None, 0)}, "brew(1)")
    return result


def install(directory, **overrides):
    """Write a script per installed tool into directory (removing those not installed); returns the state."""
    state = dict(DEFAULT, **overrides)
    found = scripts(state)
    for name in TOOLS:
        path = os.path.join(str(directory), name)
        if name not in found:
            if os.path.exists(path):
                os.remove(path)
            continue
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("#!/bin/sh\n" + found[name])
        os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return state
