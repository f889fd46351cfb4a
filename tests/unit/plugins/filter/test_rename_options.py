# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""rename_options on messages the way talos_docker_cluster and colima_profile write them."""
from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.joelclaw.macmini.plugins.filter.rename_options import rename_options

NAMES = {'name': 'colima_talos_cluster_name', 'workers': 'colima_talos_workers', 'adopt': 'colima_talos_adopt',
         'adopt_talosconfig': 'colima_talos_adopt_talosconfig', 'published_ports': 'colima_talos_published_ports',
         'config_patches': 'colima_talos_config_patches', 'image': 'colima_talos_image',
         'port_bridge_image': 'colima_talos_port_bridge_image'}


@pytest.mark.parametrize('msg,expected', [
    ("workers=1 but cluster 'x' has 0 worker(s)", "colima_talos_workers=1 but cluster 'x' has 0 worker(s)"),
    ('set adopt=true and adopt_talosconfig= to a talosconfig',
     'set colima_talos_adopt=true and colima_talos_adopt_talosconfig= to a talosconfig'),
    ("published_ports.api.host_ip='0.0.0.0'; loopback", "colima_talos_published_ports.api.host_ip='0.0.0.0'; loopback"),
    ("config_patches[0]='machine: {}'", "colima_talos_config_patches[0]='machine: {}'"),
    ('no container labelled talos.cluster.name=x; set name= to it',
     'no container labelled talos.cluster.name=x; set colima_talos_cluster_name= to it'),
    ("port_bridge_image='a' and image='b'", "colima_talos_port_bridge_image='a' and colima_talos_image='b'"),
    ('the cluster name is wrong; --name x', 'the cluster name is wrong; --name x'),
    ('DOCKER_HOST=unix:///x', 'DOCKER_HOST=unix:///x'),
])
def test_rename_options(msg, expected):
    assert rename_options(msg, NAMES) == expected


def test_rename_options_refuses_a_list():
    with pytest.raises(AnsibleFilterError):
        rename_options('workers=1', ['workers'])
