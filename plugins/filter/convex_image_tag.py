# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Split a container image reference and return its tag, so roles can insist on a pinned sha."""
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError


def convex_image_tag(image):
    """Return the tag of an image reference, or "" when it has none (digest-only or bare name)."""
    if not isinstance(image, str):
        raise AnsibleFilterError("convex_image_tag expects an image reference string, got %s" % type(image).__name__)
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]  # a ":" before the last "/" is a registry port, not a tag
    if ":" not in last:
        return ""
    return last.split(":", 1)[1]


class FilterModule(object):
    def filters(self):
        return {"convex_image_tag": convex_image_tag}
