# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to joelclaw.macmini: this module_util may change without notice.
"""Atomic writes of files that hold secrets (admin keys, signing keys, instance secrets, kubeconfigs)."""
from __future__ import absolute_import, annotations, division, print_function

import os
import tempfile


def write_private(path, content, create_dir=True):
    """Write text to path atomically (temp file + rename), mode 0600 from the first byte.

    The temp file sits in the target directory so the rename is atomic; a missing
    directory is created 0700 unless create_dir is false. A failure leaves the old file.
    """
    directory = os.path.dirname(os.path.abspath(path))
    if create_dir and not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700)
    handle, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
    try:
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
