# -*- coding: utf-8 -*-
# Copyright (c) joelclaw.macmini maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to joelclaw.macmini: may change without notice. Only the collection's modules import it.
"""Parse Colima's CLI output and decide what a profile needs, without running anything."""

from __future__ import annotations

import json
import os
import platform
import re

GIB = 1024 ** 3
# `colima status --json` exists since v0.8.1 (abiosoft/colima#1196); older releases print text only.
MIN_COLIMA_VERSION = (0, 8, 1)
# The release whose source the parsers and fakes follow.
TESTED_COLIMA = '0.10.3'
# Lima reports memory as bytes rounded by the guest; a MiB of slack keeps "4 GiB" equal to 4 GiB.
MEMORY_TOLERANCE = 1024 ** 2
# `colima status --json` names the driver; `colima list --json` has no vm type at all.
DRIVER_TO_VM_TYPE = {
    'macOS Virtualization.Framework': 'vz',
    'QEMU': 'qemu',
    'Krunkit': 'krunkit',
}


class ColimaOutputError(Exception):
    """Colima printed something this collection cannot read."""


def parse_list(stdout):
    """`colima list --json` prints one JSON object per line (NDJSON), no enclosing array.

    Returns {short profile name: instance dict}.
    """
    profiles = {}
    for number, line in enumerate(stdout.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise ColimaOutputError('line %d of `colima list --json` is not JSON (%s): %r' % (number, exc, line[:200]))
        if not isinstance(item, dict) or not item.get('name'):
            raise ColimaOutputError('line %d of `colima list --json` has no "name": %r' % (number, line[:200]))
        profiles[item['name']] = item
    return profiles


def parse_status(stdout):
    """`colima status --json` prints one object whose keys differ from `list` (cpu, ip_address)."""
    try:
        status = json.loads(stdout)
    except ValueError as exc:
        raise ColimaOutputError('`colima status --json` did not print JSON (%s): %r' % (exc, stdout[:200]))
    if not isinstance(status, dict):
        raise ColimaOutputError('`colima status --json` printed %s, expected an object' % type(status).__name__)
    return status


def version_string(stdout):
    """The word after `colima version` (cmd/version.go, abiosoft/colima v0.10.3), or None.

    It is whatever the build put into config.appVersion: Homebrew's formula version (`0.10.3`, or
    `HEAD-<short sha>` for `brew install --HEAD`), `git describe --tags --always` for `make`
    (`v0.10.3`, `v0.10.3-12-g490420d`, or a bare sha without tags), or `development` for a plain `go build`.
    """
    match = re.search(r'colima version (\S+)', stdout)
    return match.group(1) if match else None


def parse_version(stdout):
    """The release (major, minor, patch) of a `colima version 0.10.3` / `v0.10.3` line; None for anything else."""
    match = re.search(r'colima version v?(\d+)\.(\d+)\.(\d+)\s*$', stdout, re.MULTILINE)
    if not match:
        return None
    return tuple(int(part) for part in match.groups())


def unreleased_build(version):
    """A build from a commit rather than a release tag: newer than every release this collection knows."""
    if not version:
        return False
    return (version == 'development' or re.match(r'^HEAD(-[0-9a-f]+)?$', version) is not None
            or re.match(r'^v?\d+\.\d+\.\d+-\d+-g[0-9a-f]+(-dirty)?$', version) is not None
            or re.match(r'^[0-9a-f]{7,40}$', version) is not None)


def normalize_profile(name):
    """Colima strips a leading `colima-` from profile names; compare on the short name."""
    if name.startswith('colima-'):
        return name[len('colima-'):]
    return name


def config_dir(environ=None, home=None, system=None):
    """Colima's config dir as config/files.go (abiosoft/colima v0.10.3) picks it, first match wins.

    1. $COLIMA_HOME, only if that path exists; 2. an existing ~/.colima; 3. $XDG_CONFIG_HOME/colima when the
    variable is set (even empty); 4. ~/.colima on macOS; 5. elsewhere os.UserConfigDir()/colima. There is no
    ~/.config/colima on macOS unless XDG_CONFIG_HOME says so (that fallback exists only on unreleased HEAD).
    """
    environ = os.environ if environ is None else environ
    home = home or os.path.expanduser('~')
    system = system or platform.system()
    if os.path.exists(environ.get('COLIMA_HOME', '')):
        return environ['COLIMA_HOME']
    dot = os.path.join(home, '.colima')
    if os.path.exists(dot):
        return dot
    if 'XDG_CONFIG_HOME' in environ:
        return os.path.join(environ['XDG_CONFIG_HOME'], 'colima')
    if system == 'Darwin':
        return dot
    return os.path.join(home, '.config', 'colima')  # Go's os.UserConfigDir on Linux without XDG_CONFIG_HOME


def docker_socket(profile, colima_dir):
    """The Docker socket Colima forwards to the host: <config dir>/<profile>/docker.sock."""
    return 'unix://' + os.path.join(colima_dir, normalize_profile(profile), 'docker.sock')


def read_vm_type(profile, colima_dir):
    """Read `vmType:` from the profile's colima.yaml (a flat key, so no YAML library is needed)."""
    path = os.path.join(colima_dir, normalize_profile(profile), 'colima.yaml')
    try:
        with open(path, encoding='utf-8') as handle:
            for line in handle:
                match = re.match(r'^vmType:\s*["\']?([A-Za-z0-9_-]+)', line)
                if match:
                    return match.group(1)
    except OSError:
        return None
    return None


def observed(instance, status=None, vm_type=None):
    """The profile as the module reports it, in the module's own units (GiB)."""
    if instance is None:
        return {'exists': False}
    result = {
        'exists': True,
        'status': instance.get('status', ''),
        'arch': instance.get('arch', ''),
        'cpus': instance.get('cpus'),
        'memory': round(instance['memory'] / GIB, 2) if instance.get('memory') else None,
        'disk': round(instance['disk'] / GIB, 2) if instance.get('disk') else None,
        'runtime': instance.get('runtime', ''),
        'vm_type': vm_type,
    }
    if status:
        result['vm_type'] = DRIVER_TO_VM_TYPE.get(status.get('driver', ''), vm_type)
        result['docker_socket'] = status.get('docker_socket')
    return result


def _delete_advice(profile):
    """The only way this collection ever names `colima delete`: with its consequences and a backup first."""
    return ('Recreating the profile is a last resort: `colima delete %s` deletes the VM with every container in it '
            '(the Talos nodes, and with them Convex and, in a VM you share, your own workloads such as Redis, Qdrant '
            'and Inngest); `--data` also deletes the container disk, so every volume and PersistentVolume is lost for '
            'good. Only after a backup of all of them (`ansible-playbook playbooks/backup.yml` for Convex, your own '
            'for the rest), and only on purpose; then re-run.' % profile)


def _refusal(field, variable, current, wanted, profile):
    return (
        '%s=%r was requested but Colima profile %r was created with %s %r, which Colima cannot change after '
        'creation. Nothing was changed. Set %s back to %r. %s'
        % (variable, wanted, profile, field, current, variable, current, _delete_advice(profile))
    )


def plan(profile, desired, current, allow_restart, variables, confirm=''):
    """Decide what `colima` must do for one profile.

    desired: cpus, memory (GiB), disk (GiB), arch, vm_type, runtime, state (running|stopped).
    current: observed() output.
    variables: option name -> the name the operator sets (so errors name the role variable).
    confirm: a running VM is stopped and started only with allow_restart and confirm equal to the profile name.
    Returns {'actions': [...], 'errors': [...], 'pending': [...]}; actions are 'create', 'recover',
    'stop', 'start'. Pure: no I/O, so every transition is testable.
    """
    actions, errors, pending = [], [], []
    if not current.get('exists'):
        if desired['state'] == 'running':
            actions.append('create')
        else:
            errors.append('Colima profile %r does not exist and %s=stopped asks only to stop it; set %s=running '
                          'to create it.' % (profile, variables['state'], variables['state']))
        return {'actions': actions, 'errors': errors, 'pending': pending}

    # Fixed at creation (colima `setFixedConfigs`): refuse instead of letting colima discard the flag.
    if desired.get('arch') and current.get('arch') and desired['arch'] != current['arch']:
        errors.append(_refusal('arch', variables['arch'], current['arch'], desired['arch'], profile))
    if desired.get('vm_type') and current.get('vm_type') and desired['vm_type'] != current['vm_type']:
        errors.append(_refusal('vm type', variables['vm_type'], current['vm_type'], desired['vm_type'], profile))
    current_runtime = (current.get('runtime') or '').split('+')[0]
    if desired.get('runtime') and current_runtime and desired['runtime'] != current_runtime:
        errors.append(_refusal('runtime', variables['runtime'], current_runtime, desired['runtime'], profile))

    # Colima only grows disks (`limactl disk resize` on start) and logs-and-ignores a smaller value.
    if desired.get('disk') is not None and current.get('disk') is not None and desired['disk'] < current['disk']:
        errors.append(
            '%s=%s GiB is smaller than the %s GiB disk of Colima profile %r; Colima disks can only grow. '
            'Nothing was changed. Set %s to %s or more. %s'
            % (variables['disk'], _fmt(desired['disk']), _fmt(current['disk']), profile, variables['disk'],
               _fmt(current['disk']), _delete_advice(profile)))
    if errors:
        return {'actions': [], 'errors': errors, 'pending': pending}

    resize = []
    if desired.get('mounts_change'):  # a new mount list takes a VM restart (Lima mounts at boot)
        resize.append(desired['mounts_change'])
    resize += resource_changes(desired, current, smaller_disk=False)  # a smaller disk was refused above

    status = current.get('status')
    if desired['state'] == 'stopped':
        if status == 'Broken':
            actions.append('recover')
        elif status == 'Running':
            actions.append('stop')
        return {'actions': actions, 'errors': errors, 'pending': resize}

    if status == 'Broken':
        # The documented fix for a VM left Broken by a macOS restart; it is not serving anything.
        actions.extend(['recover', 'start'])
    elif status != 'Running':
        actions.append('start')
    elif resize:
        if allow_restart and confirm == profile:
            actions.extend(['stop', 'start'])
        else:
            errors.append(
                'Colima profile %r is running and needs a restart to apply: %s. Nothing was changed. Restarting stops '
                'every container in the VM for a minute or two (the Talos nodes, Convex, and in a VM you share your '
                'own workloads such as Redis, Qdrant and Inngest); nothing is deleted. To allow it, set %s=true and '
                '%s=%s (the profile name, as confirmation)%s; or set the values back to what the VM has%s.'
                % (profile, ', '.join(resize), variables['allow_restart'], variables['restart_confirm'], profile,
                   ' (now %s=%s, %s=%r)' % (variables['allow_restart'], str(bool(allow_restart)).lower(),
                                            variables['restart_confirm'], confirm) if allow_restart else '',
                   ', or set %s=true to take the profile as it is' % variables.get('adopt', 'adopt')))
    return {'actions': actions, 'errors': errors, 'pending': resize if errors else []}


def differences(desired, current):
    """What an existing profile has that differs from the request, as `field current -> wanted` texts."""
    found = []
    for field in ('arch', 'vm_type', 'runtime'):
        have = (current.get(field) or '').split('+')[0]
        if desired.get(field) and have and desired[field] != have:
            found.append('%s %s -> %s' % (field.replace('_', ' '), have, desired[field]))
    return found + resource_changes(desired, current, smaller_disk=True)


def resource_changes(desired, current, smaller_disk):
    """CPUs, memory (within MEMORY_TOLERANCE) and disk the request changes, as `field current -> wanted` texts.

    smaller_disk: whether a disk smaller than the current one counts (Colima only grows disks).
    """
    found = []
    if desired.get('cpus') is not None and current.get('cpus') != desired['cpus']:
        found.append('cpus %s -> %s' % (current.get('cpus'), desired['cpus']))
    if desired.get('memory') is not None and (
            current.get('memory') is None
            or abs(current['memory'] * GIB - desired['memory'] * GIB) > MEMORY_TOLERANCE):
        found.append('memory %s GiB -> %s GiB' % (_fmt(current.get('memory')), _fmt(desired['memory'])))
    if desired.get('disk') is not None and current.get('disk') is not None and (
            desired['disk'] > current['disk'] or (smaller_disk and desired['disk'] < current['disk'])):
        found.append('disk %s GiB -> %s GiB' % (_fmt(current['disk']), _fmt(desired['disk'])))
    return found


def _fmt(value):
    if value is None:
        return 'unknown'
    if float(value).is_integer():
        return str(int(value))
    return str(value)


def version_text(version):
    return '.'.join(str(part) for part in version)


def colima_yaml(profile, colima_dir):
    """The profile's config file, which `colima start` reads and saves again (config/profile.go, v0.10.3)."""
    return os.path.join(colima_dir, normalize_profile(profile), 'colima.yaml')


def provision_entries(modules):
    """colima.yaml `provision` entries that load each module on every VM boot.

    `mode: system` scripts are handed to Lima, which runs them as root while the VM boots
    (config/config.go Provision, environment/vm/lima/yaml.go, embedded/defaults/colima.yaml; v0.10.3).
    """
    return [{'mode': 'system', 'script': 'modprobe %s' % name} for name in modules]


def host_guard_entry():
    """The colima.yaml `provision` entry (mode: system, run by Lima as root at every boot) of HOST_GUARD_SCRIPT."""
    return {'mode': 'system', 'script': HOST_GUARD_SCRIPT}


def missing_provision(config, modules, extra=()):
    """The entries of provision_entries(modules) + extra that the loaded colima.yaml does not have yet."""
    have = set()
    for entry in (config or {}).get('provision') or []:
        if isinstance(entry, dict):
            have.add((entry.get('mode'), (entry.get('script') or '').strip()))
    return [entry for entry in provision_entries(modules) + list(extra)
            if (entry['mode'], entry['script'].strip()) not in have]


def with_provision(config, entries):
    """A copy of the loaded colima.yaml with `entries` appended to its `provision` list."""
    config = dict(config or {})
    config['provision'] = list(config.get('provision') or []) + list(entries)
    return config


# Lima's host address as the VM sees it: the user-v2 gateway Colima configures (abiosoft/colima v0.10.3
# environment/vm/lima/network.go, default --gateway-address 192.168.5.2). gvisor-tap-vsock forwards it to the Mac's
# loopback (`host.lima.internal`, `host.docker.internal`). It is also the VM's DNS server: with a usernet network or
# vz, Lima hands out the gateway as the resolver (lima-vm/lima v1.2.3 pkg/cidata/cidata.go, SlirpDNS =
# GatewayIP; 192.168.5.3 is only qemu's slirp DNS), and Colima's dnsmasq forwards to it (environment/vm/lima/dns.go
# `server=<gateway>`). So port 53 stays open and everything else from containers to that address is rejected.
LIMA_HOST_ADDRESS = '192.168.5.2'
HOST_GUARD_RULES = [  # as `iptables -S DOCKER-USER` prints them, in chain order
    '-d %s/32 -p udp -m udp --dport 53 -j RETURN' % LIMA_HOST_ADDRESS,
    '-d %s/32 -p tcp -m tcp --dport 53 -j RETURN' % LIMA_HOST_ADDRESS,
    '-d %s/32 -j REJECT --reject-with icmp-port-unreachable' % LIMA_HOST_ADDRESS,
]
# DOCKER-USER filters what containers send through the VM (FORWARD), before Docker's own rules; dockerd keeps
# the chain's rules when it starts. Idempotent: the rules are re-inserted only when the chain's head differs.
HOST_GUARD_SCRIPT = (
    'iptables -N DOCKER-USER 2>/dev/null; '
    '[ "$(iptables -S DOCKER-USER | sed -n 2,4p)" = "%s" ] && exit 0; '
    'for r in %s; do iptables -D DOCKER-USER $r 2>/dev/null; iptables -I DOCKER-USER 1 $r || exit 1; done'
    % ('\n'.join('-A DOCKER-USER ' + rule for rule in HOST_GUARD_RULES),
       ' '.join('"%s"' % rule for rule in reversed(HOST_GUARD_RULES))))


def host_guard_in_place(iptables_s_output):
    """True when `iptables -S DOCKER-USER` starts with HOST_GUARD_RULES."""
    rules = [line[len('-A DOCKER-USER '):] for line in iptables_s_output.splitlines()
             if line.startswith('-A DOCKER-USER ')]
    return rules[:len(HOST_GUARD_RULES)] == HOST_GUARD_RULES


def _mount_entry(location, mount_point='', writable=False):
    return {'location': location, 'mountPoint': mount_point or '', 'writable': bool(writable)}


def observed_mounts(config):
    """The mounts a profile's colima.yaml asks for (abiosoft/colima v0.10.3): `mounts: []` (the template's default)
    means $HOME writable (environment/vm/lima/yaml.go, config.go MountsOrDefault); null or no key means none (what
    `--mount none` saves: mountsFromFlag returns nil, util/yamlutil writes nil slices as null)."""
    mounts = (config or {}).get('mounts', None)
    if mounts is None:
        return []
    if isinstance(mounts, list) and not mounts:
        return [_mount_entry('~', writable=True)]
    return [_mount_entry(m.get('location', ''), m.get('mountPoint', ''), m.get('writable', False))
            for m in mounts if isinstance(m, dict)]


def parse_mount_option(value):
    """`<dir>[:<mountpoint>]`, read-only (cmd/start.go mountsFromFlag, v0.10.3); None when it is not that."""
    parts = value.split(':')
    if len(parts) > 2 or not parts[0].startswith(('/', '~')) or (len(parts) == 2 and not parts[1].startswith('/')):
        return None
    return _mount_entry(parts[0], parts[1] if len(parts) == 2 else '')


def mount_flags(mounts):
    """`colima start` flags for read-only `mounts` (a list of `<dir>[:<mountpoint>]`); [] is `--mount none`."""
    if not mounts:
        return ['--mount', 'none']
    flags = []
    for value in mounts:
        flags += ['--mount', value]
    return flags


def describe_mounts(mounts):
    if not mounts:
        return 'none'
    parts = []
    for m in mounts:
        point = ':' + m['mountPoint'] if m['mountPoint'] else ''
        parts.append('%s%s (%s)' % (m['location'], point, 'writable' if m['writable'] else 'read-only'))
    return ', '.join(parts)
