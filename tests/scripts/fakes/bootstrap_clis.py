# -*- coding: utf-8 -*-
# Copyright (c) joelclaw.macmini maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test stand-ins for the commands scripts/find-python talks to: python3 (at any version), brew, uv.

One Python file plays all of them; a small sh wrapper per fake sets FAKE_ROLE and the state, then
execs the real test interpreter on this file. Where each behaviour was read:

- python: `--version` prints "Python X.Y.Z" on stdout (CPython Modules/main.c, stdout since 3.4);
  `-c CODE` runs CODE, here with sys.version_info/sys.version of the faked release; `-m venv [--clear]
  DIR` makes DIR/bin/python{,3,3.X} and DIR/pyvenv.cfg with `home`, `include-system-site-packages`,
  `version`, `executable` (python/cpython Lib/venv/__init__.py, EnvBuilder.create_configuration,
  --clear empties DIR first: clear_directory). The venv's python answers `-m pip ...` by logging the
  call and exiting 0, as a pip run that succeeds does; no package is installed.
- brew: `brew --prefix` prints HOMEBREW_PREFIX (Homebrew/brew Library/Homebrew/brew.sh@03ba6429, the
  `--prefix*` fast path to formula_path.sh). The Python formula's interpreter is
  opt/python@3.X/bin/python3.X (Homebrew/homebrew-core Formula/p/python@3.13.rb@07086530,
  `def python3 = bin/"python#{version.major_minor}"`).
- uv (astral-sh/uv@26a9dd4b, 0.12.5-79): `uv python find [--no-project] [--system] REQUEST` prints the
  interpreter path on stdout and exits 0, or prints "error: No interpreter found for Python REQUEST in
  managed installations or search path" on stderr and exits 2 (crates/uv/src/commands/python/find.rs:
  find_existing, never downloads; crates/uv/tests/python/python_find.rs snapshots; exit codes in
  crates/uv/src/commands/mod.rs `impl From<ExitStatus> for ExitCode`). `uv python install 3.13` puts a
  managed CPython under the install dir and prints "Installed Python 3.13.x in ..." and
  " + cpython-3.13.x-<platform> (python3.13)" on stderr (crates/uv/tests/python/python_install.rs).
  The "in managed installations or search path" wording of the sources list is guessed (the snapshot
  filters it as [PYTHON SOURCES]); find-python does not read it.

Every call is appended as JSON to $FAKE_LOG.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys

REAL_PYTHON = sys.executable
HERE = os.path.abspath(__file__)


def _log(role, argv):
    path = os.environ.get('FAKE_LOG')
    if path:
        with open(path, 'a', encoding='utf-8') as handle:
            handle.write(json.dumps({'role': role, 'argv': argv, 'version': os.environ.get('FAKE_PY_VERSION')}) + '\n')


def write_wrapper(path, role, env):
    """Write an executable sh wrapper at path that runs this file as `role` with env set."""
    lines = ['#!/bin/sh']
    env = dict(env, FAKE_SELF=path)
    for key, value in sorted(env.items()):
        lines.append("%s='%s'; export %s" % (key, value, key))
    lines.append("FAKE_ROLE='%s'; export FAKE_ROLE" % role)
    lines.append('exec "%s" "%s" "$@"' % (REAL_PYTHON, HERE))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write('\n'.join(lines) + '\n')
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def fake_python(path, version, log):
    """A python3 that reports `version` ("3.9.6")."""
    return write_wrapper(path, 'python', {'FAKE_PY_VERSION': version, 'FAKE_LOG': log})


class _VersionInfo(tuple):
    """sys.version_info look-alike: a 5-tuple with named fields."""

    major = property(lambda self: self[0])
    minor = property(lambda self: self[1])
    micro = property(lambda self: self[2])
    releaselevel = property(lambda self: self[3])
    serial = property(lambda self: self[4])


def _python(argv):
    version = os.environ['FAKE_PY_VERSION']
    major, minor, micro = (int(part) for part in version.split('.'))
    if argv in (['--version'], ['-V']):
        print('Python %s' % version)
        return 0
    if len(argv) >= 2 and argv[0] == '-c':
        sys.version_info = _VersionInfo((major, minor, micro, 'final', 0))
        sys.version = '%s (main, Jan  1 2026, 00:00:00) [fake]' % version
        sys.argv = ['-c'] + argv[2:]
        exec(compile(argv[1], '<string>', 'exec'), {'__name__': '__main__'})  # pylint: disable=exec-used
        return 0
    if argv[:2] == ['-m', 'venv']:
        rest = argv[2:]
        clear = '--clear' in rest
        dirs = [arg for arg in rest if not arg.startswith('-')]
        if len(dirs) != 1:
            sys.stderr.write('usage: venv [-h] [--clear] ENV_DIR\n')
            return 2
        env_dir = os.path.abspath(dirs[0])
        if clear and os.path.isdir(env_dir):
            for entry in os.listdir(env_dir):
                full = os.path.join(env_dir, entry)
                if os.path.isdir(full) and not os.path.islink(full):
                    shutil.rmtree(full)
                else:
                    os.remove(full)
        bindir = os.path.join(env_dir, 'bin')
        os.makedirs(bindir, exist_ok=True)
        me = os.environ.get('FAKE_SELF', '')
        with open(os.path.join(env_dir, 'pyvenv.cfg'), 'w', encoding='utf-8') as handle:
            handle.write('home = %s\ninclude-system-site-packages = false\nversion = %s\nexecutable = %s\n'
                         % (os.path.dirname(me), version, me))
        env = {'FAKE_PY_VERSION': version, 'FAKE_LOG': os.environ.get('FAKE_LOG', ''), 'FAKE_VENV': env_dir}
        # venv links bin/python to the interpreter that made it; the fake writes a wrapper instead.
        for name in ('python', 'python3', 'python%d.%d' % (major, minor)):
            write_wrapper(os.path.join(bindir, name), 'python', env)
        return 0
    if argv[:2] == ['-m', 'pip'] and os.environ.get('FAKE_VENV'):
        return 0
    sys.stderr.write('fake python: unsupported arguments %r\n' % (argv,))
    return 2


def _brew(argv):
    if argv == ['--prefix']:
        print(os.environ['FAKE_BREW_PREFIX'])
        return 0
    sys.stderr.write('fake brew: unsupported arguments %r\n' % (argv,))
    return 1


def _uv(argv):
    root = os.environ['FAKE_UV_ROOT']
    installed = os.path.join(root, 'cpython-3.13.5-macos-aarch64-none', 'bin', 'python3.13')
    if argv[:2] == ['python', 'find']:
        request = [arg for arg in argv[2:] if not arg.startswith('-')]
        if os.path.exists(installed):
            print(installed)
            return 0
        sys.stderr.write('error: No interpreter found for Python %s in managed installations or search path\n'
                         % (request[0] if request else ''))
        return 2
    if argv[:2] == ['python', 'install'] and argv[2:] == ['3.13']:
        fake_python(installed, '3.13.5', os.environ.get('FAKE_LOG', ''))
        sys.stderr.write('Installed Python 3.13.5 in 1.02s\n + cpython-3.13.5-macos-aarch64-none (python3.13)\n')
        return 0
    sys.stderr.write('fake uv: unsupported arguments %r\n' % (argv,))
    return 2


def main():
    role = os.environ['FAKE_ROLE']
    argv = sys.argv[1:]
    _log(role, argv)
    return {'python': _python, 'brew': _brew, 'uv': _uv}[role](argv)


if __name__ == '__main__':
    sys.exit(main())
