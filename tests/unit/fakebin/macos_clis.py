# -*- coding: utf-8 -*-
# Copyright (c) joelclaw.macmini maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test stand-ins for colima, docker and talosctl, which only exist on the Mac.

One Python file plays all three (chosen by the name it is called as) and keeps the world in a JSON
file named by $FAKE_MACOS_STATE: Colima profiles, the containers of each profile's Docker daemon, and
a log of every call. Outputs are written from upstream source (each function names the file and tag
it follows; none is a recording): abiosoft/colima v0.10.3 and siderolabs/talos v1.12.11.
`colima list --json` is NDJSON with bytes, `colima status --json` uses cpu/ip_address and exits 1 when
the VM is not running, `talosctl cluster show` is tabwriter text with humanize sizes. Behaviour that
matters to the modules is reproduced: flags saved but not applied on a running VM, disks that only
grow, fixed arch/vm type, Broken VMs that need `stop --force`, Docker reachable only through
DOCKER_HOST, node containers without a restart policy that stay exited after the VM restarts (and come
back with `unless-stopped`), kernel modules that are gone after a VM restart, talosctl renaming
clashing contexts to <name>-1 and `talosctl kubeconfig` returning the node's own endpoint.
Also: `docker inspect --format` with `{{json .Field}}` templates (docker/cli v28.5.2), a node's Config.Env carrying
the machine config (with fake CA keys) as talos node.go does, the objects found printed before a failing inspect;
the VM's mount list as colima saves and applies it (`--mount none`, `$HOME` writable by default); `iptables` in
the VM (a shim on the PATH of `colima ssh -- sudo sh -c` and provision scripts, run by the real /bin/sh), whose
rules are gone after every boot, with dockerd re-creating DOCKER-USER.

Also `docker run`/`docker rm` for the port bridge (docker/cli@28f75608), and `brew` and `launchctl` for the role's
task flow in test mode (see brew() and launchctl(): Homebrew/brew 6.0.18; launchctl is guessed from its man page).

install(directory) writes executable wrappers named colima, docker, talosctl, brew and launchctl into directory.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import shutil
import stat
import sys

GIB = 1024 ** 3
DRIVERS = {'vz': 'macOS Virtualization.Framework', 'qemu': 'QEMU', 'krunkit': 'Krunkit'}
# Modules the fake VM kernel can load (Colima's Ubuntu guest builds br_netfilter as a module: guessed).
KERNEL_MODULES = ('br_netfilter', 'overlay')
# A control-plane machine config as far as it matters here: it carries the cluster CA private keys
# (siderolabs/talos v1.12.11 pkg/machinery/config/types/v1alpha1: cluster.ca.key, machine.ca.key). Fake key.
USERDATA = ('version: v1alpha1\nmachine:\n  type: controlplane\n  ca:\n    crt: LS0tFAKE\n    key: %s\n'
            'cluster:\n  ca:\n    key: FAKE-CLUSTER-CA-PRIVATE-KEY-%%s\n' % 'FAKE-MACHINE-CA-PRIVATE-KEY')
V0_10_3 = '00f6c297e92a82c04a4ab507db0a61435650d7e8'  # abiosoft/colima tag v0.10.3


def install(directory, python=None):
    python = python or sys.executable
    here = os.path.abspath(__file__)
    vm_bin = os.path.join(str(directory), 'vm')  # on PATH only for commands run "inside the VM"
    os.makedirs(vm_bin, exist_ok=True)
    for name in ('colima', 'docker', 'talosctl', 'brew', 'launchctl', 'vm/iptables'):
        path = os.path.join(str(directory), name)
        name = os.path.basename(name)
        with open(path, 'w', encoding='utf-8') as handle:
            handle.write('#!/bin/sh\nexec "%s" "%s" %s "$@"\n' % (python, here, name))
        os.chmod(path, os.stat(path).st_mode | stat.S_IEXEC | stat.S_IXGRP | stat.S_IXOTH)


def load():
    path = os.environ['FAKE_MACOS_STATE']
    if os.path.exists(path):
        with open(path, encoding='utf-8') as handle:
            return json.load(handle)
    return {'colima_version': '0.10.3', 'profiles': {}, 'containers': {}, 'calls': []}


def save(state):
    with open(os.environ['FAKE_MACOS_STATE'], 'w', encoding='utf-8') as handle:
        json.dump(state, handle, indent=1, sort_keys=True)


def die(message, code=1):
    sys.stderr.write(message + '\n')
    sys.exit(code)


def colima_home():
    """config/files.go@v0.10.3 on macOS: $COLIMA_HOME only if that path exists, else ~/.colima."""
    if os.path.exists(os.environ.get('COLIMA_HOME', '')):
        return os.environ['COLIMA_HOME']
    return os.path.join(os.path.expanduser('~'), '.colima')


def flags(args, booleans=()):
    """Split cobra-style args into (positionals, {flag: value})."""
    positional, values = [], {}
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == '--':  # the rest is a command for something else (colima ssh -- ...)
            break
        if arg.startswith('--') or (arg.startswith('-') and len(arg) == 2):
            key = arg.lstrip('-')
            if '=' in key:
                key, value = key.split('=', 1)
            elif key in booleans:
                value = True
            else:
                index += 1
                value = args[index] if index < len(args) else die('flag needs an argument: ' + arg)
            values.setdefault(key, []).append(value)
        else:
            positional.append(arg)
        index += 1
    return positional, values


def last(values, key, default=None):
    return values[key][-1] if key in values else default


# ---------------------------------------------------------------- colima

def colima_yaml_path(name):
    return os.path.join(colima_home(), name, 'colima.yaml')


def write_colima_yaml(name, profile):
    """PreRunE of `colima start` saves the whole config (config/configmanager Save -> util/yamlutil, v0.10.3):
    values from flags over what the file had, so entries the file already had (`provision`) survive."""
    import yaml
    previous = read_yaml(colima_yaml_path(name)) or {}
    os.makedirs(os.path.dirname(colima_yaml_path(name)), exist_ok=True)
    config = {'cpu': profile['cpus'], 'disk': profile['disk'] // GIB, 'memory': profile['memory'] / GIB,
              'arch': profile['arch'], 'runtime': profile['runtime'], 'vmType': profile['vm_type'],
              # nil (--mount none) is written as null, [] stays [] ($HOME writable): util/yamlutil/yaml.go
              'mounts': profile.get('mounts', []),
              'provision': previous.get('provision') or []}
    with open(colima_yaml_path(name), 'w', encoding='utf-8') as handle:
        yaml.safe_dump(config, handle, default_flow_style=False, sort_keys=False)


def run_provision(name, profile):
    """Lima runs `mode: system` provision scripts as root on every boot (environment/vm/lima/yaml.go passes the
    Lima-managed modes through, v0.10.3); the fake understands `modprobe <module>` only."""
    for entry in (read_yaml(colima_yaml_path(name)) or {}).get('provision') or []:
        match = re.match(r'^modprobe ([A-Za-z0-9_-]+)$', (entry.get('script') or '').strip())
        if entry.get('mode') == 'system' and match and match.group(1) in KERNEL_MODULES:
            if match.group(1) not in profile.setdefault('modules', []):
                profile['modules'].append(match.group(1))
    return [entry['script'] for entry in (read_yaml(colima_yaml_path(name)) or {}).get('provision') or []
            if entry.get('mode') == 'system' and not (entry.get('script') or '').strip().startswith('modprobe ')]


def mounts_from_flag(values):
    """cmd/start.go mountsFromFlag@v0.10.3: `none` anywhere -> nil; else `<dir>[:<mountpoint>][:w]`."""
    mounts = []
    for value in values:
        if value.lower() == 'none':
            return None
        parts = value.split(':', 2)
        mount = {'location': parts[0], 'writable': False}
        if len(parts) > 1:
            if parts[1].startswith('/'):
                mount['mountPoint'] = parts[1]
            elif parts[1] == 'w':
                mount['writable'] = True
        if len(parts) > 2 and parts[2] == 'w':
            mount['writable'] = True
        mounts.append(mount)
    return mounts


def active_mounts(mounts):
    """What Lima mounts at boot (environment/vm/lima/yaml.go@v0.10.3): [] -> $HOME writable; nil -> nothing."""
    if mounts is None:
        return []
    if not mounts:
        return [{'location': '~', 'writable': True}]
    return mounts


def canonical_rule(spec):
    """A rule spec as `iptables -S` prints it (iptables-save format: `-p udp --dport 53` gains `-m udp`, REJECT
    gains its default `--reject-with icmp-port-unreachable`). From iptables' documented save format, not read
    from netfilter's source: guessed, listed in the role README."""
    out = list(spec)
    if '-p' in out and '--dport' in out and '-m' not in out:
        proto = out[out.index('-p') + 1]
        out[out.index('-p') + 2:out.index('-p') + 2] = ['-m', proto]
    if out[-2:] == ['-j', 'REJECT']:
        out += ['--reject-with', 'icmp-port-unreachable']
    return ' '.join(out)


def iptables(state, args, profile_name=None):
    """iptables in the VM's filter table: -N, -S, -C, -D, -I [pos], -A on the profile's chains. Rules do not survive
    a VM boot (nothing persists them in Colima's guest); dockerd (re)creates DOCKER-USER (see colima start)."""
    name = profile_name or os.environ.get('FAKE_VM_PROFILE', '')
    chains = state['profiles'][name].setdefault('iptables', {})
    op, chain, rest = args[0], args[1] if len(args) > 1 else '', args[2:]
    if op == '-N':
        if chain in chains:
            die('iptables: Chain already exists.')
        chains[chain] = []
        return 0
    if chain not in chains:
        die('iptables: No chain/target/match by that name.')
    rules = chains[chain]
    if op == '-S':
        print('-N %s' % chain)
        for rule in rules:
            print('-A %s %s' % (chain, rule))
        return 0
    if op == '-I' and rest and rest[0].isdigit():
        position, rest = int(rest[0]), rest[1:]
    else:
        position = 1
    rule = canonical_rule(rest)
    if op == '-C':
        return 0 if rule in rules else die('iptables: Bad rule (does a matching rule exist in that chain?).')
    if op == '-D':
        if rule not in rules:
            die('iptables: Bad rule (does a matching rule exist in that chain?).')
        rules.remove(rule)
        return 0
    if op == '-I':
        rules.insert(position - 1, rule)
        return 0
    if op == '-A':
        rules.append(rule)
        return 0
    die('fake iptables: unsupported %r' % args)
    return 2


def vm_shell(state, name, script):
    """Run a script as root in the fake VM: the real /bin/sh, with the fake iptables first on PATH."""
    import subprocess
    save(state)
    vm_bin = os.path.join(os.path.dirname(shutil.which('colima') or ''), 'vm')
    env = dict(os.environ, FAKE_VM_PROFILE=name, PATH=vm_bin + os.pathsep + '/usr/bin:/bin')
    done = subprocess.run(['/bin/sh', '-c', script], env=env, capture_output=True, text=True, check=False)
    fresh = load()
    state.clear()
    state.update(fresh)
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    return done.returncode


def dockerd_chains(profile):
    """dockerd creates DOCKER-USER when it starts if it is missing, keeps the rules it has, and makes sure a final
    `-j RETURN` is there (moby libnetwork setupUserChain; not read here: guessed, see the role README)."""
    rules = profile.setdefault('iptables', {}).setdefault('DOCKER-USER', [])
    if '-j RETURN' not in rules:
        rules.append('-j RETURN')


def colima(state, args):
    command, rest = (args[0], args[1:]) if args else ('', [])
    positional, values = flags(rest, booleans=('json', 'j', 'force', 'f', 'extended', 'e', 'data'))
    name = last(values, 'profile') or last(values, 'p') or (positional[0] if positional else 'default')
    name = name[len('colima-'):] if name.startswith('colima-') else name
    profiles = state['profiles']
    profile = profiles.get(name)

    if command == 'version':
        # cmd/version.go@v0.10.3: `<AppName> version <appVersion>`, `git commit: <revision>`, then per runtime
        # (app.go Version(), only while the VM runs) `runtime:`, `arch:` and docker.go's client/server lines.
        # Homebrew sets appVersion to the formula version (`0.10.3`, or `HEAD-<short sha>` for --HEAD) and
        # revision to the full commit (Formula/c/colima.rb ldflags; Homebrew's HeadVersion#update_commit).
        print('colima version %s\ngit commit: %s' % (state['colima_version'], state.get('colima_revision', V0_10_3)))
        if (profile or {}).get('status') == 'Running':
            print('\nruntime: docker\narch: %s\nclient: v28.3.2\nserver: v28.3.2' % profile['arch'])
        return 0
    if command in ('ssh', 'exec', 'x'):
        return colima_ssh(state, name, profile, rest)
    if command in ('list', 'ls') and not ('json' in values or 'j' in values):
        # cmd/list.go@v0.10.3: tabwriter (minwidth 4, padding 4), sizes with go-units BytesSize (`8GiB`).
        rows = [['PROFILE', 'STATUS', 'ARCH', 'CPUS', 'MEMORY', 'DISK', 'RUNTIME', 'ADDRESS']]
        for short, item in sorted(profiles.items()):
            rows.append([short, item['status'], item['arch'], str(item['cpus']), '%gGiB' % (item['memory'] / GIB),
                         '%gGiB' % (item['disk'] / GIB), item['runtime'], ''])
        sys.stdout.write(tabwriter(rows, padding=4))
        return 0
    if command in ('list', 'ls'):
        for short, item in sorted(profiles.items()):
            row = {'name': short, 'status': item['status'], 'arch': item['arch'], 'cpus': item['cpus'],
                   'memory': item['memory'], 'disk': item['disk'],
                   'runtime': item['runtime'] + ('+k3s' if item.get('kubernetes') else '')}
            if item['status'] == 'Running' and item.get('address'):
                row['address'] = item['address']
            print(json.dumps(row))
        return 0
    if command == 'status':
        if profile is None or profile['status'] != 'Running':
            die('time="2026-01-01T00:00:00Z" level=fatal msg="colima%s is not running"'
                % ('' if name == 'default' else ' [profile=%s]' % name))
        if profile.get('status_error'):
            die('time="2026-01-01T00:00:00Z" level=fatal msg="error retrieving current runtime: empty value"')
        print(json.dumps({
            'display_name': 'colima' if name == 'default' else 'colima [profile=%s]' % name,
            'driver': DRIVERS[profile['vm_type']], 'arch': profile['arch'], 'runtime': profile['runtime'],
            'mount_type': 'virtiofs' if profile['vm_type'] == 'vz' else 'sshfs',
            'docker_socket': 'unix://' + os.path.join(colima_home(), name, 'docker.sock'),
            'kubernetes': False, 'cpu': profile['cpus'], 'memory': profile['memory'], 'disk': profile['disk'],
        }))
        return 0
    if command == 'start':
        if profile is None:
            profile = {'status': 'Stopped', 'arch': last(values, 'arch') or last(values, 'a') or 'aarch64',
                       'vm_type': last(values, 'vm-type') or last(values, 't') or 'vz',
                       'runtime': last(values, 'runtime') or last(values, 'r') or 'docker',
                       'cpus': 2, 'memory': 2 * GIB, 'disk': 100 * GIB}
            profiles[name] = profile
        if profile['status'] == 'Broken':
            die('time="x" level=fatal msg="error starting vm: error at \'starting\': exit status 1"')
        # PreRunE saves the flags to colima.yaml before RunE looks at the VM.
        saved = dict(profile)
        mount_values = values.get('mount', []) + values.get('V', [])
        if mount_values:
            saved['mounts'] = mounts_from_flag(mount_values)
        if 'cpus' in values or 'c' in values:
            saved['cpus'] = int(last(values, 'cpus') or last(values, 'c'))
        if 'memory' in values or 'm' in values:
            saved['memory'] = int(float(last(values, 'memory') or last(values, 'm')) * GIB)
        if 'disk' in values or 'd' in values:
            saved['disk'] = int(last(values, 'disk') or last(values, 'd')) * GIB
        for fixed in ('arch', 'vm-type', 'runtime'):
            if fixed in values and last(values, fixed) != profile[fixed.replace('-', '_')]:
                sys.stderr.write('level=warning msg="\'%s\' cannot be updated after initial setup, discarded"\n'
                                 % fixed)
        if profile['status'] == 'Running':
            profile['pending'] = {k: saved[k] for k in ('cpus', 'memory', 'disk')}
            profile['mounts'] = saved.get('mounts', [])  # saved to colima.yaml, applied at the next boot
            write_colima_yaml(name, profile)
            sys.stderr.write('level=info msg="already running, ignoring"\n')
            return 0
        if saved['disk'] < profile['disk']:
            sys.stderr.write('level=warning msg="disk size cannot be reduced, ignoring..."\n')
            saved['disk'] = profile['disk']
        for key in ('cpus', 'memory', 'disk'):
            profile[key] = saved[key]
        profile['mounts'] = saved.get('mounts', [])
        profile['active_mounts'] = active_mounts(profile['mounts'])
        profile['status'] = 'Running'
        profile.pop('pending', None)
        write_colima_yaml(name, profile)
        profile['modules'] = []
        profile['iptables'] = {}  # a fresh boot: no rules
        for script in run_provision(name, profile):
            vm_shell(state, name, script)  # reloads state: re-read the profile below
        dockerd_chains(state['profiles'][name])
        # dockerd restores containers whose policy is always/unless-stopped when it starts, unless a person
        # stopped them (moby daemon restore; not read here: guessed, see the role README).
        for container in state['containers'].values():
            if container['profile'] == name and container.get('restart', 'no') in ('always', 'unless-stopped'):
                container['state'] = 'running'
        return 0
    if command == 'stop':
        if profile is None:
            die('level=fatal msg="colima [profile=%s] does not exist"' % name)
        if profile['status'] == 'Broken' and not ('force' in values or 'f' in values):
            die('level=fatal msg="error stopping vm: exit status 1"')
        profile['status'] = 'Stopped'
        profile['iptables'] = {}
        # Nothing in the VM survives: containers exit (dockerd stops them, which is not a manual stop) and
        # kernel modules loaded by hand are gone after the next boot.
        profile['modules'] = []
        for container in state['containers'].values():
            if container['profile'] == name:
                container['state'] = 'exited'
        return 0
    die('fake colima: unsupported command %r' % args)
    return 2


def colima_ssh(state, name, profile, rest):
    """`colima ssh [--profile P] -- <command>` (cmd/ssh.go@v0.10.3) for the two commands the collection runs.

    A command's non-zero exit makes colima exit 1 (root.Execute: logrus.Fatal on the returned error).
    """
    command = rest[rest.index('--') + 1:] if '--' in rest else []
    if profile is None or profile['status'] != 'Running':
        die('time="x" level=fatal msg="colima%s is not running"' % ('' if name == 'default' else ' [profile=%s]' % name))
    loaded = profile.setdefault('modules', [])
    if command[:2] == ['test', '-d'] and command[2].startswith('/sys/module/'):
        return 0 if command[2][len('/sys/module/'):] in loaded else die('time="x" level=fatal msg="exit status 1"')
    if command[:2] == ['sudo', 'iptables']:
        return iptables(state, command[2:], name)
    if command[:3] == ['sudo', 'sh', '-c'] and len(command) == 4:
        return vm_shell(state, name, command[3]) and die('time="x" level=fatal msg="exit status 1"')
    if command[:2] == ['sudo', 'modprobe'] and len(command) == 3:
        if command[2] not in KERNEL_MODULES:
            die('modprobe: FATAL: Module %s not found in directory /lib/modules/6.8.0-60-generic\n'
                'time="x" level=fatal msg="exit status 1"' % command[2])
        if command[2] not in loaded:
            loaded.append(command[2])
        return 0
    die('fake colima ssh: unsupported command %r' % command)
    return 2


# ---------------------------------------------------------------- docker

def docker_profile(state):
    """The profile whose socket DOCKER_HOST names, if its VM runs; docker contexts are ignored on purpose."""
    host = os.environ.get('DOCKER_HOST', '')
    for name, profile in state['profiles'].items():
        if host == 'unix://' + os.path.join(colima_home(), name, 'docker.sock') and profile['status'] == 'Running':
            return name
    die('Cannot connect to the Docker daemon at %s. Is the docker daemon running?'
        % (host or 'unix:///var/run/docker.sock'))
    return None


def inspect_object(name, container):
    bindings = {}
    for binding in container['ports']:
        bindings.setdefault(binding['container_port'], []).append({'HostIp': binding['host_ip'],
                                                                   'HostPort': binding['host_port']})
    return {
        'Id': '%064x' % abs(hash(name)), 'Name': '/' + name,
        'State': {'Status': container['state'], 'Running': container['state'] == 'running',
                  'ExitCode': 0 if container['state'] == 'running' else 255},
        # providers/docker/node.go@v1.12.11 (siderolabs/talos) hands the whole machine config to the node as
        # Env USERDATA=<base64>; for a control plane it holds every cluster CA key. The key here is fake.
        'Config': {'Image': container['image'], 'Labels': container['labels'],
                   'Env': ['PLATFORM=container', 'USERDATA=' + base64.b64encode(
                       (USERDATA % name).encode()).decode()]},
        # talos node.go@v1.12.11 sets no RestartPolicy; the daemon reports that as "no".
        'HostConfig': {'NanoCpus': container['nano_cpus'], 'Memory': container['memory'],
                       'Privileged': True,
                       'RestartPolicy': {'Name': container.get('restart', 'no'), 'MaximumRetryCount': 0},
                       'PortBindings': bindings},
        'NetworkSettings': {'Networks': {container.get('network') or container['labels']['talos.cluster.name']: {
            'IPAMConfig': {'IPv4Address': container['ip']},
            'IPAddress': container['ip'] if container['state'] == 'running' else ''}}},
    }


def render_template(fmt, obj):
    """The part of Go text/template the module uses: `{{json .A.B}}` (docker/cli v28.5.2 templates/templates.go:
    json encodes with SetEscapeHTML(false) and trims the newline). Anything else is refused, so the module
    cannot come to rely on a construct this fake does not model."""
    def field(match):
        value = obj
        for key in match.group(1).split('.')[1:]:
            if not isinstance(value, dict) or key not in value:
                die('template: :1: map has no entry for key "%s"' % key)  # missingkey=error fallback
            value = value[key]
        return json.dumps(value, separators=(',', ':'), ensure_ascii=False)
    out = re.sub(r'\{\{json (\.[A-Za-z0-9_.]+)\}\}', field, fmt)
    if '{{' in out:
        die('fake docker: template construct not modelled in %r' % fmt)
    return out


def docker(state, args):
    profile = docker_profile(state)
    mine = {n: c for n, c in state['containers'].items() if c['profile'] == profile}
    command, rest = (args[0], args[1:]) if args else ('', [])
    positional, values = flags(rest, booleans=('all', 'a', 'force', 'f'))
    if command == 'ps':
        wanted = [f.split('=', 2)[1:] for f in values.get('filter', []) if f.startswith('label=')]
        for name, container in sorted(mine.items()):
            if not ('all' in values or 'a' in values) and container['state'] != 'running':
                continue
            if all(container['labels'].get(k) == v for k, v in wanted):
                fmt = last(values, 'format', '{{.Names}}')
                print(fmt.replace('{{.Names}}', name).replace('{{.State}}', container['state']))
        return 0
    if command == 'inspect':
        # docker/cli v28.5.2 cli/command/inspect/inspector.go Inspect(): the objects that were found are printed
        # (an indented JSON array, or the --format template once per object, each followed by a newline), then
        # the errors of the others are joined and the exit code is 1.
        found = [n for n in positional if n in mine and not mine[n].get('gone_at_inspect')]
        missing = [n for n in positional if n not in found]
        objects = [inspect_object(n, mine[n]) for n in found]
        fmt = last(values, 'format') or last(values, 'f')
        if fmt:
            for obj in objects:
                print(render_template(fmt, obj))
        else:
            print(json.dumps(objects, indent=4))
        if missing:
            die('\n'.join('Error: No such object: %s' % n for n in missing))
        return 0
    if command == 'start':
        for name in positional:
            if name not in mine:
                die('Error response from daemon: No such container: %s' % name)
            mine[name]['state'] = 'running'
            print(name)
        return 0
    if command == 'run':
        return docker_run(state, profile, mine, rest)
    if command == 'rm':
        # docker/cli@28f75608 cli/command/container/rm.go: --force kills a running container first; prints each name.
        for name in positional:
            if name not in mine:
                die('Error response from daemon: No such container: %s' % name)
            if mine[name]['state'] == 'running' and 'force' not in values and 'f' not in values:
                die('Error response from daemon: cannot remove container "/%s": container is running: stop the '
                    'container before removing or force remove' % name)
            del state['containers'][name]
            print(name)
        return 0
    if command == 'update':
        # `docker update --restart <policy> <container>...` prints each name (docker CLI container/update.go).
        policy = last(values, 'restart')
        if policy not in ('no', 'on-failure', 'always', 'unless-stopped'):
            die('invalid restart policy %r' % policy)
        for name in positional:
            if name not in mine:
                die('Error response from daemon: No such container: %s' % name)
            mine[name]['restart'] = policy
            print(name)
        return 0
    die('fake docker: unsupported command %r' % args)
    return 2


def docker_run(state, profile, mine, args):
    """`docker run --detach` with the flags the port bridge uses (docker/cli@28f75608 cli/command/container/run.go and
    opts.go: --name, --restart, --network, --label k=v, --publish ip:hostPort:containerPort/proto, --entrypoint; the
    image, then the command's arguments). Prints the new container's id. A host port another running container of the
    same daemon publishes on the same address fails as moby does: `Bind for 127.0.0.1:3210 failed: port is already
    allocated` (the daemon's wording as docker run prints it; the exact text is guessed, see the role README)."""
    values, index = {}, 0
    takes_value = ('name', 'restart', 'network', 'label', 'publish', 'p', 'entrypoint', 'l')
    while index < len(args) and args[index].startswith('-'):
        key = args[index].lstrip('-')
        if key in ('detach', 'd'):
            index += 1
            continue
        if key not in takes_value:
            die('fake docker run: flag %r not modelled' % args[index])
        values.setdefault(key, []).append(args[index + 1])
        index += 2
    if index >= len(args):
        die('"docker run" requires at least 1 argument.')
    image, command = args[index], args[index + 1:]
    name = last(values, 'name')
    if name in state['containers']:
        die('docker: Error response from daemon: Conflict. The container name "/%s" is already in use by container '
            '"%064x". You have to remove (or rename) that container to be able to reuse that name.' % (name, 0))
    network = last(values, 'network', 'bridge')
    if network != 'bridge' and not any(c.get('network', c['labels'].get('talos.cluster.name')) == network
                                       for c in mine.values()):
        die('docker: Error response from daemon: network %s not found.' % network)
    ports = []
    for spec in values.get('publish', []) + values.get('p', []):
        parts, proto = spec.split('/')[0].split(':'), (spec.split('/') + ['tcp'])[1]
        binding = {'container_port': '%s/%s' % (parts[-1], proto), 'host_ip': parts[0] if len(parts) == 3 else '',
                   'host_port': parts[-2]}
        for other_name, other in mine.items():
            for taken in other['ports']:
                if other['state'] == 'running' and taken['host_port'] == binding['host_port'] and \
                        taken['host_ip'] in (binding['host_ip'], '', '0.0.0.0'):
                    die('docker: Error response from daemon: failed to set up container networking: driver failed '
                        'programming external connectivity on endpoint %s: Bind for %s:%s failed: port is already '
                        'allocated' % (name, binding['host_ip'] or '0.0.0.0', binding['host_port']))
        ports.append(binding)
    labels = dict(item.split('=', 1) for item in values.get('label', []) + values.get('l', []))
    state['containers'][name] = {
        'profile': profile, 'state': 'running', 'image': image, 'ip': '', 'labels': labels, 'network': network,
        'nano_cpus': 0, 'memory': 0, 'ports': ports, 'restart': last(values, 'restart', 'no'),
        'entrypoint': last(values, 'entrypoint'), 'command': command}
    print('%064x' % abs(hash(name)))
    return 0


# ---------------------------------------------------------------- brew and launchctl

def brew(state, args):
    """The two brew commands community.general.homebrew (11.4.2) runs for `state: present`.

    `brew info --json=v2 <formula>...` prints {"formulae": [...], "casks": [...]} (Homebrew/brew 6.0.18,
    Library/Homebrew/cmd/info.rb print_json :v2); each formula is Formula#to_hash (formula.rb): name, full_name, tap,
    oldnames, aliases, outdated, and `installed` as a list of installed kegs (empty when not installed).
    `brew install <formula>...` installs them. Installing puts nothing on PATH here (the test's fakes are already
    there); the formulae are recorded in the state file.
    """
    installed = state.setdefault('brew_installed', [])
    if args[:2] == ['info', '--json=v2']:
        formulae = []
        for name in [a for a in args[2:] if not a.startswith('--')]:
            formulae.append({'name': name, 'full_name': name, 'tap': 'homebrew/core', 'oldnames': [], 'aliases': [],
                             'outdated': False, 'linked_keg': '1.0' if name in installed else None,
                             'installed': [{'version': '1.0', 'installed_on_request': True}]
                             if name in installed else []})
        print(json.dumps({'formulae': formulae, 'casks': []}, indent=2))
        return 0
    if args[:1] == ['install']:
        for name in [a for a in args[1:] if not a.startswith('--')]:
            if name not in installed:
                installed.append(name)
            print('==> Pouring %s--1.0.arm64_sequoia.bottle.tar.gz' % name)
        return 0
    die('fake brew: unsupported command %r' % args)
    return 2


def launchctl(state, args):
    """The launchctl subcommands community.general.launchd (11.4.2) and the role use, in the legacy syntax.

    `list` prints a header and one `PID<TAB>Status<TAB>Label` line per loaded job (the module splits on tabs);
    `list <label>` exits 0 with the job's properties when it is loaded and non-zero otherwise; `load <plist>` and
    `unload <plist>` read the plist's Label; `start`/`stop <label>`. From the launchctl(1) man page and the
    module's parser; launchctl itself is not open source, so the exact texts and the exit code 113 of `list` for an
    unknown label are guessed (listed in the role README). A job ran by `load` (RunAtLoad) or `start` is recorded as
    run once and shown stopped with last exit status 0; its program is not run.
    """
    import plistlib
    jobs = state.setdefault('launchd', {})
    if args == ['list']:
        print('PID\tStatus\tLabel')
        for label, job in sorted(jobs.items()):
            print('-\t%d\t%s' % (job.get('status', 0), label))
        return 0
    if args[:1] == ['list'] and len(args) == 2:
        if args[1] not in jobs:
            die('Could not find service "%s" in domain for port' % args[1], code=113)
        print('{\n\t"LimitLoadToSessionType" = "Aqua";\n\t"Label" = "%s";\n\t"LastExitStatus" = 0;\n};' % args[1])
        return 0
    if args[:1] in (['load'], ['unload']) and len(args) == 2:
        with open(args[1], 'rb') as handle:
            label = plistlib.load(handle)['Label']
        if args[0] == 'load':
            jobs[label] = {'plist': args[1], 'runs': jobs.get(label, {}).get('runs', 0) + 1, 'status': 0}
        else:
            jobs.pop(label, None)
        return 0
    # The domain subcommands the roles use for LaunchDaemons (launchctl(1), "SUBCOMMANDS": `print <domain-target>/
    # <label>`, `bootstrap <domain-target> <path>`, `bootout <domain-target>/<label>`), only for the system domain.
    # Jobs bootstrapped there are kept apart from the legacy ones (an agent and a daemon may share a label). The
    # exit codes are guessed (113 for print of an unknown service, 5 for bootstrap of a loaded one, 3 for bootout
    # of an unknown one: the texts of "Bootstrap failed: 5: Input/output error" reports; launchd is closed).
    system = state.setdefault('launchd_system', {})
    if args[:1] == ['print'] and len(args) == 2 and args[1].startswith('system/'):
        label = args[1][len('system/'):]
        if label not in system:
            die('Could not find service "%s" in domain for system' % label, code=113)
        print('system/%s = {\n\tactive count = 0\n\tpath = %s\n\tstate = not running\n\tusername = %s\n}'
              % (label, system[label]['plist'], system[label].get('username', 'root')))
        return 0
    if args[:2] == ['bootstrap', 'system'] and len(args) == 3:
        with open(args[2], 'rb') as handle:
            job = plistlib.load(handle)
        if job['Label'] in system:
            die('Bootstrap failed: 5: Input/output error', code=5)
        system[job['Label']] = {'plist': args[2], 'username': job.get('UserName', 'root'),
                                'runs': 1 if job.get('RunAtLoad') else 0, 'status': 0}
        return 0
    if args[:1] == ['bootout'] and len(args) == 2 and args[1].startswith('system/'):
        label = args[1][len('system/'):]
        if system.pop(label, None) is None:
            die('Boot-out failed: 3: No such process', code=3)
        return 0
    if args[:1] in (['start'], ['stop']) and len(args) == 2:
        if args[1] not in jobs:
            die('Could not find service "%s" in domain for port' % args[1], code=113)
        if args[0] == 'start':
            jobs[args[1]]['runs'] += 1
        return 0
    die('fake launchctl: unsupported command %r' % args)
    return 2


# ---------------------------------------------------------------- talosctl

def read_yaml(path):
    import yaml  # the test interpreter has PyYAML (ansible-core needs it)
    if not os.path.exists(path):
        return None
    with open(path, encoding='utf-8') as handle:
        return yaml.safe_load(handle) or {}


def write_yaml(path, data):
    import yaml
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as handle:
        yaml.safe_dump(data, handle, default_flow_style=False)


def free_name(existing, base):
    if base not in existing:
        return base
    index = 1
    while '%s-%d' % (base, index) in existing:
        index += 1
    return '%s-%d' % (base, index)


def merge_talosconfig(path, cluster, endpoint_port):
    config = read_yaml(path) or {'context': '', 'contexts': {}}
    context = free_name(config['contexts'], cluster)
    if context != cluster:
        sys.stderr.write('renamed talosconfig context "%s" -> "%s"\n' % (cluster, context))
    config['contexts'][context] = {'endpoints': ['127.0.0.1:%d' % endpoint_port],
                                   'ca': 'Q0E=', 'crt': 'Q1JU', 'key': 'S0VZ'}
    config['context'] = context
    write_yaml(path, config)


def humanize_bytes(size):
    """go-humanize v1.0.1 bytes.go Bytes(): SI units, one decimal below 10, a space before the unit."""
    if size < 10:
        return '%d B' % size
    exponent = int(math.floor(math.log(size) / math.log(1000)))
    value = math.floor(size / (1000 ** exponent) * 10 + 0.5) / 10
    return ('%.0f %s' if value >= 10 else '%.1f %s') % (value, ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'][exponent])


def tabwriter(rows, padding=3):
    """Go text/tabwriter with minwidth 0, padding 3, padchar ' ', flags 0, as show.go uses it: every cell but the
    last of a line is padded to the widest cell of its column plus the padding; the last cell is not padded."""
    widths = {}
    for row in rows:
        for index, cell in enumerate(row[:-1]):
            widths[index] = max(widths.get(index, 0), len(cell))
    return ''.join(''.join(cell.ljust(widths[i] + padding) for i, cell in enumerate(row[:-1])) + row[-1] + '\n'
                   for row in rows)


def merge_kubeconfig(path, cluster, server, force=False):
    config = read_yaml(path) or {'apiVersion': 'v1', 'kind': 'Config', 'clusters': [], 'users': [], 'contexts': []}
    base = 'admin@' + cluster
    names = [c['name'] for c in config['contexts']]
    if force:
        config['contexts'] = [c for c in config['contexts'] if c['name'] != base]
        config['clusters'] = [c for c in config['clusters'] if c['name'] != cluster]
        config['users'] = [u for u in config['users'] if u['name'] != base]
        names = []
    context = free_name(names, base)
    suffix = context[len(base):]
    config['clusters'].append({'name': cluster + suffix, 'cluster': {'server': server}})
    config['users'].append({'name': context, 'user': {'client-certificate-data': 'Q1JU'}})
    config['contexts'].append({'name': context, 'context': {'cluster': cluster + suffix, 'user': context,
                                                            'namespace': 'default'}})
    config['current-context'] = context
    write_yaml(path, config)
    print('merging kubeconfig into "%s"' % path)


def talos_version(state):
    text = state.get('talosctl_version', 'v1.12.11')
    match = re.match(r'v(\d+)\.(\d+)', text)
    return (int(match.group(1)), int(match.group(2))) if match else (99, 0)


def talosctl(state, args):
    """talosctl v1.12.11 (siderolabs/talos), docker provisioner only."""
    positional, values = flags(args, booleans=('force', 'f', 'client', 'short', 'merge', 'm'))
    if positional[:1] == ['version']:
        # cmd/talosctl/cmd/talos/version.go + pkg/machinery/version/version.go@v1.12.11 (versionTemplate).
        if 'client' not in values:
            die('fake talosctl: only `version --client` is modelled')
        print('Client:\n\tTag:         %s\n\tSHA:         %s\n\tBuilt:       \n\tGo version:  go1.25.4\n'
              '\tOS/Arch:     darwin/arm64' % (state.get('talosctl_version', 'v1.12.11'), 'undefined'))
        return 0
    if positional[:3] == ['cluster', 'create', 'docker'] and talos_version(state) < (1, 12):
        # Before v1.12 `cluster create` took --provisioner and had no subcommands (v1.11.6 create/command.go);
        # cobra's exact complaint about the extra argument is guessed.
        die('Error: unknown command "docker" for "talosctl cluster create"')
    if positional[:2] == ['cluster', 'create'] and positional[2:3] != ['docker']:
        die("the developer oriented 'cluster create' command has been moved to 'cluster create dev'")
    state_dir = last(values, 'state') or os.path.join(os.path.expanduser('~'), '.talos', 'clusters')
    name = last(values, 'name', 'talos-default')
    if positional[:3] == ['cluster', 'create', 'docker']:
        profile = docker_profile(state)
        workers = int(last(values, 'workers', '1'))
        image = last(values, 'image', 'ghcr.io/siderolabs/talos:v1.12.11')
        # clusterops/options.go@v1.12.11 GetDocker(): --host-ip defaults to 0.0.0.0.
        host_ip = last(values, 'host-ip', '0.0.0.0')
        if os.path.exists(os.path.join(state_dir, name)):
            die('error: cluster %s already exists' % name)

        def size(text):
            if not text.endswith('GiB'):
                die('bad size %r' % text)
            return int(float(text[:-3]) * GIB)
        # providers/docker/node.go@v1.12.11: on darwin the API ports get no host prefix, and genPortMap then
        # fills every binding without one with DockerPortsHostIP, which makers/docker.go always sets to
        # --host-ip. So the API ports listen where --host-ip says, like the exposed ports.
        api_port, talos_port = 53211, 53212  # docker.go picks free host ports; fixed here
        specs = ['%d:50000/tcp' % talos_port, '%d:6443/tcp' % api_port]
        specs += [spec for spec in (last(values, 'exposed-ports') or last(values, 'p') or '').split(',') if spec]
        ports = []
        for spec in specs:
            parts, proto = spec.split('/')[0].split(':'), spec.split('/')[1]
            hip = parts[0] if len(parts) == 3 else host_ip
            ports.append({'container_port': '%s/%s' % (parts[-1], proto), 'host_ip': hip, 'host_port': parts[-2]})
        names = ['%s-controlplane-1' % name] + ['%s-worker-%d' % (name, i + 1) for i in range(workers)]
        for index, node in enumerate(names):
            if node in state['containers']:
                die('Error response from daemon: Conflict. The container name "/%s" is already in use' % node)
            worker = index > 0
            state['containers'][node] = {
                'profile': profile, 'state': 'running', 'image': image, 'ip': '10.5.0.%d' % (index + 2),
                'labels': {'talos.owned': 'true', 'talos.cluster.name': name,
                           'talos.type': 'worker' if worker else 'controlplane'},
                'nano_cpus': int(float(last(values, 'cpus-workers' if worker else 'cpus-controlplanes', '2.0')) * 1e9),
                'memory': size(last(values, 'memory-workers' if worker else 'memory-controlplanes', '2.0GiB')),
                'ports': [] if worker else ports,
            }
        os.makedirs(os.path.join(state_dir, name))
        with open(os.path.join(state_dir, name, 'state.yaml'), 'w', encoding='utf-8') as handle:
            handle.write('name: %s\nprovisionername: docker\n' % name)
        talosconfig = last(values, 'talosconfig-destination') or os.environ.get('TALOSCONFIG') or \
            os.path.join(os.path.expanduser('~'), '.talos', 'config')
        merge_talosconfig(talosconfig, name, talos_port)
        kubeconfig = os.environ.get('KUBECONFIG') or os.path.join(os.path.expanduser('~'), '.kube', 'config')
        print('waiting for API\nbootstrapping cluster\nwaiting for all k8s nodes to report ready: OK')
        # create_dev.go@v1.12.11 mergeKubeconfig: only `cluster create` replaces the server with ForceEndpoint,
        # the provisioner's external endpoint (docker.go GetExternalKubernetesControlPlaneEndpoint).
        merge_kubeconfig(kubeconfig, name, 'https://127.0.0.1:%d' % api_port)
        return 0
    if positional[:2] == ['cluster', 'show']:
        docker_profile(state)
        return cluster_show(state, name)
    if positional[:2] == ['cluster', 'destroy']:
        docker_profile(state)
        for node in [n for n, c in state['containers'].items() if c['labels'].get('talos.cluster.name') == name]:
            del state['containers'][node]
        shutil.rmtree(os.path.join(state_dir, name), ignore_errors=True)
        print('destroying node %s-controlplane-1' % name)
        return 0
    if positional[:1] == ['kubeconfig']:
        docker_profile(state)
        context = last(values, 'context')
        node_ip = last(values, 'nodes') or last(values, 'n')
        talosconfig = read_yaml(last(values, 'talosconfig') or os.environ.get('TALOSCONFIG', ''))
        if not talosconfig or context not in talosconfig.get('contexts', {}):
            die('error: context %r is not defined' % context)
        running = [c for c in state['containers'].values() if c.get('ip') == node_ip and c['state'] == 'running'
                   and 'talos.cluster.name' in c['labels']]
        if not running:
            die('error: rpc error: code = Unavailable desc = connection refused')
        # cmd/talosctl/cmd/talos/kubeconfig.go@v1.12.11 merges what the node serves, unchanged. The node makes
        # its admin kubeconfig with the cluster endpoint (internal/app/machined/pkg/controllers/secrets/
        # kubernetes.go, AdminKubeconfig), which `cluster create docker` set to the first node's address on the
        # Docker network (providers/docker/docker.go GetInClusterKubernetesControlPlaneEndpoint: CIDR .2:6443).
        cluster = running[0]['labels']['talos.cluster.name']
        controlplane = sorted(c['ip'] for c in state['containers'].values()
                              if c['labels'].get('talos.cluster.name') == cluster
                              and c['labels']['talos.type'] == 'controlplane')
        merge_kubeconfig(positional[1], cluster, 'https://%s:6443' % controlplane[0],
                         force='force' in values or 'f' in values)
        return 0
    die('fake talosctl: unsupported command %r' % args)
    return 2


def cluster_show(state, name):
    """cmd/talosctl/cmd/mgmt/cluster/show.go@v1.12.11 over providers/docker/reflect.go@v1.12.11.

    Two tabwriter blocks (padding 3). The endpoint is https://127.0.0.1:<host port of 6443/tcp>, whatever
    --host-ip was. Nodes sort by name; CPU is NanoCPUs/1e9 with two decimals, RAM humanize.Bytes of the
    container memory, DISK `-` (docker nodes have no disk size). IP is the network's IPAddress, or the IPAM
    address when that is unspecified; an exited container has an empty IPAddress, which decodes to the zero
    netip.Addr (not "unspecified"), and that prints as `invalid IP` (inferred from the source, not observed).
    """
    nodes = sorted((n, c) for n, c in state['containers'].items() if c['labels'].get('talos.cluster.name') == name)
    endpoint = ''
    for _node, container in nodes:
        for binding in container['ports']:
            if binding['container_port'] == '6443/tcp':
                endpoint = 'https://127.0.0.1:%s' % binding['host_port']
    network = bool(nodes)  # the network is named after the cluster and removed with it
    sys.stdout.write(tabwriter([
        ['PROVISIONER', 'docker'], ['NAME', name], ['NETWORK NAME', name if network else ''],
        ['NETWORK CIDR', '10.5.0.0/24' if network else ''], ['NETWORK GATEWAY', '10.5.0.1' if network else ''],
        ['NETWORK MTU', '1500' if network else '0'], ['KUBERNETES ENDPOINT', endpoint]]))
    sys.stdout.write('\nNODES:\n\n')
    rows = [['NAME', 'TYPE', 'IP', 'CPU', 'RAM', 'DISK']]
    for node, container in nodes:
        rows.append([node, container['labels']['talos.type'],
                     container['ip'] if container['state'] == 'running' else 'invalid IP',
                     '%.2f' % (container['nano_cpus'] / 1e9) if container['nano_cpus'] else '-',
                     humanize_bytes(container['memory']) if container['memory'] else '-', '-'])
    sys.stdout.write(tabwriter(rows))
    return 0


def main():
    tool, args = sys.argv[1], sys.argv[2:]
    state = load()
    state['calls'].append({'tool': tool, 'args': args, 'DOCKER_HOST': os.environ.get('DOCKER_HOST'),
                           'KUBECONFIG': os.environ.get('KUBECONFIG')})
    save(state)  # the call log survives a failing command
    try:
        return {'colima': colima, 'docker': docker, 'talosctl': talosctl, 'iptables': iptables, 'brew': brew,
                'launchctl': launchctl}[tool](state, args)
    finally:
        save(state)


if __name__ == '__main__':
    sys.exit(main())


# ---------------------------------------------------------------- test helpers

class World:
    """What a test sees of the fake Mac: seed it, read it back."""

    def __init__(self, tmp_path, monkeypatch):
        self.root = str(tmp_path)
        self.bin = os.path.join(self.root, 'bin')
        os.makedirs(self.bin)
        install(self.bin)
        self.state_file = os.path.join(self.root, 'state.json')
        self.colima_home = os.path.join(self.root, 'colima')
        monkeypatch.setenv('FAKE_MACOS_STATE', self.state_file)
        os.makedirs(self.colima_home)  # colima ignores a COLIMA_HOME that does not exist
        monkeypatch.setenv('COLIMA_HOME', self.colima_home)
        monkeypatch.setenv('PATH', self.bin + os.pathsep + os.environ.get('PATH', ''))
        monkeypatch.delenv('DOCKER_HOST', raising=False)
        with open(self.state_file, 'w', encoding='utf-8') as handle:
            json.dump({'colima_version': '0.10.3', 'profiles': {}, 'containers': {}, 'calls': []}, handle)

    def state(self):
        with open(self.state_file, encoding='utf-8') as handle:
            return json.load(handle)

    def edit(self, change):
        state = self.state()
        change(state)
        with open(self.state_file, 'w', encoding='utf-8') as handle:
            json.dump(state, handle)

    def add_profile(self, name='default', status='Running', cpus=4, memory_gib=8, disk_gib=100, arch='aarch64',
                    vm_type='vz', runtime='docker'):
        profile = {'status': status, 'arch': arch, 'vm_type': vm_type, 'runtime': runtime, 'cpus': cpus,
                   'memory': int(memory_gib * GIB), 'disk': disk_gib * GIB}
        # A profile Colima created without --mount: colima.yaml has the template's `mounts: []`, $HOME writable.
        profile['mounts'] = []
        if status == 'Running':
            profile['active_mounts'] = active_mounts(profile['mounts'])
            dockerd_chains(profile)
        self.edit(lambda s: s['profiles'].__setitem__(name, profile))
        write_colima_yaml(name, profile)

    def docker_host(self, name='default'):
        return 'unix://' + os.path.join(self.colima_home, name, 'docker.sock')

    def calls(self, tool=None):
        return [c for c in self.state()['calls'] if tool is None or c['tool'] == tool]

    def clear_calls(self):
        self.edit(lambda s: s.__setitem__('calls', []))

    def run(self, *argv, **env):
        """Run a fake CLI the way a person would (e.g. to restart the VM between module runs)."""
        import subprocess
        return subprocess.run(list(argv), env=dict(os.environ, **env), capture_output=True, text=True, check=False)
