# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The benchmarks' dataset: the Convex TEST STAND-IN as its own process on loopback, seeded with 66 MB of
incompressible rows (about 51 MB once zipped), a client with its admin key, and a scratch directory.
Shared by bench_convex_backup.py and bench_restic_offsite.py (not a benchmark itself: no bench_ prefix,
so `make bench` does not run it)."""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, ".collections"))
STANDIN = os.path.join(ROOT, "tests", "standins", "convex", "convex_standin.py")
SIZE_MB = 66  # rows of base64 random data; deflated to about 51 MB

from ansible_collections.joelclaw.macmini.plugins.module_utils._convex_client import ConvexClient  # noqa: E402  pylint: disable=wrong-import-position


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_up(url, deadline=60):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(url + "/version", timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("stand-in did not start")


@contextlib.contextmanager
def standin_dataset(prefix, size_mb=SIZE_MB):
    """Yields (client, workdir): the seeded stand-in's ConvexClient and a scratch directory; both go away after."""
    secret = secrets.token_hex(32)
    port = free_port()
    proc = subprocess.Popen([sys.executable, STANDIN, "--port", str(port), "--instance-name", "joelclaw",
                             "--instance-secret", secret, "--seed-random-mb", str(size_mb)],
                            stderr=subprocess.DEVNULL)
    workdir = tempfile.mkdtemp(prefix=prefix)
    try:
        url = "http://127.0.0.1:%d" % port
        wait_up(url)
        key = subprocess.run([sys.executable, STANDIN, "--instance-name", "joelclaw", "--instance-secret", secret,
                              "--print-admin-key"], capture_output=True, text=True, check=True).stdout.strip()
        yield ConvexClient(url, key, timeout=120), workdir
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
