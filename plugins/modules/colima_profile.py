#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) joelclaw.macmini maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: colima_profile
short_description: Create, start, resize and recover a Colima VM profile
version_added: 0.1.0
description:
  - Reads the profile with C(colima list --json) (one JSON object per line) and, when it runs,
    C(colima status --json), then runs only the C(colima) commands needed to reach the requested state.
  - Creates a missing profile with the requested CPUs, memory, disk, architecture, VM type and runtime.
  - Starts a stopped profile with the requested CPUs, memory and disk (Colima applies them on start).
  - Restarts a running profile to apply new CPUs, memory or a larger disk only when O(allow_restart=true);
    otherwise it fails and says which values differ.
  - Refuses a smaller disk (Colima disks only grow) and any change of architecture, VM type or runtime
    (fixed when the profile is created) with a message that says what recreating the profile would delete. It never
    deletes a profile, and stops a running one only with O(allow_restart=true) (or O(state=stopped)) and
    O(restart_confirm) equal to the profile name.
  - With O(adopt=true) it takes an existing profile (for example one that runs other workloads) as it is; it never
    creates one, passes no resources or mounts to C(colima start), and reports differences as warnings.
  - Recovers a profile in status C(Broken) (common after a macOS restart) with C(colima stop --force).
  - For each module in O(kernel_modules), adds a C(provision) entry (mode C(system), script C(modprobe <name>)) to the
    profile's C(colima.yaml), which Colima hands to Lima to run as root on every VM boot, and loads the module in
    the running VM now with C(colima ssh -- sudo modprobe) when C(/sys/module/<name>) is missing (the entry takes
    effect from the next start).
  - Requires Colima 0.8.1 or later (C(colima status --json)). A build from a commit, such as
    C(brew install --HEAD colima) (C(colima version HEAD-<sha>)), is accepted with a warning.
author:
  - Joel Hooks (@joelhooks)
options:
  name:
    description:
      - Colima profile name. V(default) is Colima's default profile; a leading C(colima-) is ignored, as Colima does.
    type: str
    default: default
  state:
    description:
      - V(running) creates the profile if needed and makes sure it runs with the requested resources.
      - V(stopped) stops an existing profile (it never creates one).
    type: str
    choices: [running, stopped]
    default: running
  cpus:
    description: Number of virtual CPUs.
    type: int
    default: 2
  memory:
    description: Memory in GiB.
    type: float
    default: 2
  disk:
    description: Size of the container-data disk in GiB. It can only grow.
    type: int
    default: 100
  arch:
    description:
      - VM architecture, fixed at creation. Omit to keep Colima's default (the host architecture).
    type: str
    choices: [aarch64, x86_64]
  vm_type:
    description: Virtualization driver, fixed at creation. V(vz) needs macOS 13 or later.
    type: str
    choices: [vz, qemu, krunkit]
    default: vz
  runtime:
    description: Container runtime, fixed at creation.
    type: str
    choices: [docker, containerd, incus]
    default: docker
  allow_restart:
    description:
      - Allow stopping and starting a running VM to apply new CPUs, memory or disk. Needs O(restart_confirm) too.
      - A restart stops every container in the VM; Talos node containers then need starting again
        (see M(joelclaw.macmini.talos_docker_cluster)).
    type: bool
    default: false
  restart_confirm:
    description:
      - Must equal the profile name (O(name)) before a running VM is stopped (a restart to apply resources, a
        C(Broken) VM of an adopted profile, or O(state=stopped)); otherwise the run fails and changes nothing.
    type: str
    default: ''
  adopt:
    description:
      - Take an existing profile as it is. It must exist (nothing is created). CPUs, memory, disk, mounts,
        architecture, VM type and runtime are compared and differences reported as warnings, never applied; a
        stopped VM is started with its own saved configuration. Kernel modules and O(block_host_access) still apply.
    type: bool
    default: false
  kernel_modules:
    description:
      - Kernel modules the VM must have loaded while it runs, e.g. V(br_netfilter), which flannel in a Talos
        node needs (Talos docker guide) and Colima does not load.
      - Needs PyYAML on the managed host to edit C(colima.yaml).
    type: list
    elements: str
    default: []
  block_host_access:
    description:
      - Keep containers in the VM (the Talos nodes and their pods) off the Lima host address V(192.168.5.2)
        (C(host.lima.internal)), which reaches the Mac's loopback services. Three C(DOCKER-USER) rules at the head of
        the chain let DNS (port 53, the VM's resolver) through and reject the rest.
      - Installed now with C(colima ssh -- sudo sh -c) when C(iptables -S DOCKER-USER) does not start with them, and
        at every VM boot by a C(colima.yaml) provision entry (C(mode=system)).
      - Needs PyYAML on the managed host to edit C(colima.yaml).
    type: bool
    default: false
  mounts:
    description:
      - Host directories the VM mounts, each C(<dir>[:<mountpoint>]), always read-only (a C(:w) suffix is refused).
        V([]) mounts nothing (C(colima start --mount none)). Omitted, the profile's mounts are left alone, which for a
        profile Colima created without C(--mount) is B($HOME, writable).
      - The list is compared with C(mounts) in the profile's C(colima.yaml) and passed on every C(colima start). A
        running VM needs a restart to change its mounts, like a resize (O(allow_restart)).
    type: list
    elements: str
  extra_start_args:
    description: Extra arguments for C(colima start) when the profile is created, e.g. V(--mount-type=virtiofs).
    type: list
    elements: str
    default: []
  executable:
    description: Path or name of the C(colima) binary.
    type: str
    default: colima
notes:
  - The diff shows the profile's status and resources before and after, with O(mounts) the mounts, and with
    O(kernel_modules) or O(block_host_access) the provision entries added.
extends_documentation_fragment:
  - joelclaw.macmini.attributes
  - joelclaw.macmini.manager
'''

EXAMPLES = r'''
- name: Ensure the Colima VM runs with 4 CPUs, 8 GiB of memory and a 100 GiB disk.
  joelclaw.macmini.colima_profile:
    name: default
    cpus: 4
    memory: 8
    disk: 100
    vm_type: vz
  register: colima

- name: Apply new resources to a running VM, restarting it.
  joelclaw.macmini.colima_profile:
    name: default
    cpus: 6
    memory: 12
    allow_restart: true
'''

RETURN = r'''
mounts:
  description:
    - The VM's host mounts as C(colima.yaml) asks for them once the change is made (also in check mode), each with
      C(location), C(mountPoint) and C(writable). C(~) writable is Colima's default. Null when O(mounts) is not set.
  returned: always
  type: list
  elements: dict
  sample: []
actions:
  description: The colima commands run (or, in check mode, that would run), in order.
  returned: always
  type: list
  elements: str
  sample: ["colima stop --force default", "colima start default --cpus 4 --memory 8 --disk 100"]
profile:
  description: The profile as read after the change (before it, in check mode).
  returned: always
  type: dict
  sample: {"exists": true, "status": "Running", "arch": "aarch64", "cpus": 4, "memory": 8.0, "disk": 100.0,
           "runtime": "docker", "vm_type": "vz", "docker_socket": "unix:///Users/joel/.colima/default/docker.sock"}
docker_host:
  description: Value for E(DOCKER_HOST) that reaches this profile's Docker daemon.
  returned: always
  type: str
  sample: unix:///Users/joel/.colima/default/docker.sock
differences:
  description: With O(adopt=true), what differs from the request and was left as it is.
  returned: always
  type: list
  elements: str
  sample: ["cpus 2 -> 4"]
version:
  description: The Colima version found.
  returned: always
  type: str
  sample: 0.10.3
'''

import os
import re

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.joelclaw.macmini.plugins.module_utils import _colima
from ansible_collections.joelclaw.macmini.plugins.module_utils._manager import Manager

try:
    import yaml
    HAS_YAML = True
    YAML_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the managed host
    HAS_YAML = False
    YAML_IMPORT_ERROR = exc

# The options _colima.plan() names in its errors (it takes the names to print; here the module's own).
OPTIONS = {option: option for option in ('state', 'cpus', 'memory', 'disk', 'arch', 'vm_type', 'runtime',
                                         'allow_restart', 'restart_confirm', 'adopt')}
# What the diff compares.
PROFILE_FIELDS = ('exists', 'status', 'cpus', 'memory', 'disk', 'vm_type', 'arch', 'runtime')


class Colima:
    """Runs colima for one profile; every command goes through here."""

    def __init__(self, module):
        self.module = module
        self.binary = module.get_bin_path(module.params['executable'])
        if not self.binary:
            module.fail_json(msg='executable=%r: the colima executable was not found on PATH (%s). Install it with '
                                 'Homebrew or set executable to its path.'
                                 % (module.params['executable'], os.environ.get('PATH', '')))
        self.profile = _colima.normalize_profile(module.params['name'])

    def run(self, args, check_rc=True):
        rc, out, err = self.module.run_command([self.binary] + args)
        if check_rc and rc != 0:
            self.module.fail_json(msg='`colima %s` failed with exit code %d: %s'
                                      % (' '.join(args), rc, (err or out).strip()[-2000:]),
                                  rc=rc, stdout=out, stderr=err)
        return rc, out, err

    def version(self):
        """(release tuple or None, the version word as printed or None)."""
        _rc, out, err = self.run(['version'], check_rc=False)
        return _colima.parse_version(out + '\n' + err), _colima.version_string(out + '\n' + err)

    def module_loaded(self, name):
        rc, _out, _err = self.run(['ssh', '--profile', self.profile, '--', 'test', '-d', '/sys/module/' + name],
                                  check_rc=False)
        return rc == 0

    def host_guard_in_place(self):
        rc, out, _err = self.run(['ssh', '--profile', self.profile, '--', 'sudo', 'iptables', '-S', 'DOCKER-USER'],
                                 check_rc=False)
        return rc == 0 and _colima.host_guard_in_place(out)

    def instance(self):
        _rc, out, _err = self.run(['list', '--json'])
        try:
            return _colima.parse_list(out).get(self.profile)
        except _colima.ColimaOutputError as exc:
            self.module.fail_json(msg=str(exc))

    def status(self):
        rc, out, _err = self.run(['status', self.profile, '--json'], check_rc=False)
        if rc != 0:
            return None
        try:
            return _colima.parse_status(out)
        except _colima.ColimaOutputError as exc:
            self.module.fail_json(msg=str(exc))

    def observed(self, colima_dir):
        """The profile as the module reports it (see _colima.observed)."""
        instance = self.instance()
        status = self.status() if instance and instance.get('status') == 'Running' else None
        return _colima.observed(instance, status, _colima.read_vm_type(self.profile, colima_dir))


def start_args(profile, params, create):
    if params['adopt']:  # the profile's own saved configuration (colima.yaml)
        return ['start', profile]
    args = ['start', profile, '--cpus', str(params['cpus']), '--memory', _colima._fmt(params['memory']),
            '--disk', str(params['disk'])]
    if create:
        args += ['--vm-type', params['vm_type'], '--runtime', params['runtime']]
        if params['arch']:
            args += ['--arch', params['arch']]
        args += params['extra_start_args']
    if params['mounts'] is not None:
        args += _colima.mount_flags(params['mounts'])
    return args


def _float(value):
    return None if value is None else float(value)


def read_colima_yaml(module, path):
    try:
        with open(path, encoding='utf-8') as handle:
            return yaml.safe_load(handle) or {}
    except OSError:
        return {}
    except yaml.YAMLError as exc:
        module.fail_json(msg='Cannot read %s as YAML (%s); Colima would not start with it either. Fix it with '
                             '`colima start --edit`.' % (path, exc))


def write_colima_yaml(module, path, config):
    """Colima saves this file itself on every start (rendered onto its commented template), keeping our entries."""
    if not os.path.exists(path):
        module.warn('%s does not exist, so no provision entry was added; the kernel modules are loaded only until the '
                    'VM restarts (the colima_talos boot job loads them again).' % path)
        return
    try:
        with open(path + '.tmp', 'w', encoding='utf-8') as handle:
            yaml.safe_dump(config, handle, default_flow_style=False, sort_keys=False)
        os.chmod(path + '.tmp', 0o644)
        os.rename(path + '.tmp', path)
    except OSError as exc:
        module.fail_json(msg='Cannot write %s: %s' % (path, exc))


def commands_for(actions, profile, params, exists):
    commands = []
    for action in actions:
        if action == 'create':
            commands.append(start_args(profile, params, create=True))
        elif action == 'start':
            commands.append(start_args(profile, params, create=not exists))
        elif action in ('stop', 'recover'):
            commands.append(['stop', profile] + (['--force'] if action == 'recover' else []))
    return commands


def command_text(args):
    """How a colima command shows in `actions` (the DOCKER-USER script as a placeholder)."""
    if args[-3:-1] == ['sh', '-c']:
        return ' '.join(['colima'] + args[:-1] + ['<DOCKER-USER rules>'])
    return ' '.join(['colima'] + args)


def validate(module):
    params = module.params
    for option in ('cpus', 'memory', 'disk'):
        if params[option] <= 0:
            module.fail_json(msg='%s=%r is not a positive number; expected e.g. %s. Set it to the %s the VM should have.'
                                 % (option, params[option], {'cpus': 4, 'memory': 8, 'disk': 100}[option], option))
    for module_name in params['kernel_modules']:
        if not re.match(r'^[A-Za-z0-9_-]+\Z', module_name):
            module.fail_json(msg='kernel_modules contains %r, which is not a kernel module name (letters, digits, _ '
                                 'and - only); expected e.g. br_netfilter.' % module_name)
    for value in params['mounts'] or []:
        if _colima.parse_mount_option(value) is None or re.search(r'[\s{}"\'%$`\\]', value):
            module.fail_json(msg='mounts contains %r; expected <dir>[:<mountpoint>] with absolute paths, mounted '
                                 'read-only (no :w suffix: a writable mount lets a privileged Talos node write to the '
                                 'Mac), and no whitespace, braces, quotes or %%.' % value)
    if (params['kernel_modules'] or params['block_host_access'] or params['mounts'] is not None) and not HAS_YAML:
        module.fail_json(msg=missing_required_lib('PyYAML'), exception=str(YAML_IMPORT_ERROR))


class ColimaProfileManager(Manager):
    """One Colima profile: running() creates, starts, resizes or recovers it; stopped() stops it.

    With adopt=true, adopt() takes an existing profile as it is. The tracker compares PROFILE_FIELDS and, when
    mounts is set, the mounts.
    """

    def __init__(self, module):
        super().__init__(module)
        self.colima = Colima(module)
        self.profile = self.colima.profile
        self.colima_dir = _colima.config_dir()
        self.config_path = _colima.colima_yaml(self.profile, self.colima_dir)
        self.version, self.version_word = self.colima.version()
        self.check_version()
        self.before = self.colima.observed(self.colima_dir)
        self.mounts_before = None
        self.mounts_wanted = None
        self.results = dict(differences=[])

    def check_version(self):
        version, word, binary = self.version, self.version_word, self.colima.binary
        if version is None and _colima.unreleased_build(word):
            self.module.warn('Colima %s at %s is an unreleased build (e.g. `brew install --HEAD colima`); it is '
                             'treated as newer than every release. Its output formats may differ from %s, which this '
                             'module was written against.' % (word, binary, _colima.TESTED_COLIMA))
        elif version is None or version < _colima.MIN_COLIMA_VERSION:
            self.module.fail_json(msg='Colima %s was found at %s (executable); this module needs %s or later for '
                                      '`colima status --json`. Upgrade it with `brew upgrade colima`.'
                                  % (_colima.version_text(version) if version else
                                     'of an unknown version (%r)' % (word or ''), binary,
                                     _colima.version_text(_colima.MIN_COLIMA_VERSION)))

    # ------------------------------------------------------------ states
    def running(self):
        self.converge()

    def stopped(self):
        self.converge()

    # ------------------------------------------------------------ steps
    def desired(self):
        """What plan() is asked for: the options, or with adopt=true only the state."""
        params = self.params
        desired = {key: params[key] for key in ('cpus', 'memory', 'disk', 'arch', 'vm_type', 'runtime', 'state')}
        if self.before['exists'] and params['mounts'] is not None:
            self.mounts_before = _colima.observed_mounts(read_colima_yaml(self.module, self.config_path))
        if params['adopt']:
            return self.adopt(desired)
        if params['mounts'] is not None:
            self.mounts_wanted = [_colima.parse_mount_option(value) for value in params['mounts']]
            if self.before['exists'] and self.mounts_before != self.mounts_wanted:
                desired['mounts_change'] = 'mounts %s -> %s' % (_colima.describe_mounts(self.mounts_before),
                                                                _colima.describe_mounts(self.mounts_wanted))
        return desired

    def adopt(self, desired):
        """An adopted profile keeps its own resources and mounts: what the request would change becomes warnings."""
        params = self.params
        if not self.before['exists']:
            self.module.fail_json(msg='adopt=true but Colima profile %r does not exist (`colima list`); nothing was '
                                      'created. Set name= to the existing profile, or set adopt=false to let the '
                                      'collection create its own.' % self.profile)
        if params['mounts'] is not None:
            asked = [_colima.parse_mount_option(v) for v in params['mounts']]
            if self.mounts_before != asked:
                self.module.warn('Adopted Colima profile %r mounts %s from the Mac; mounts= asks for %s. The Talos '
                                 'node container is privileged, so a writable mount is reachable from a compromised '
                                 'node or pod.' % (self.profile, _colima.describe_mounts(self.mounts_before),
                                                   _colima.describe_mounts(asked)))
        differences = _colima.differences(desired, self.before)
        for difference in differences:
            self.module.warn('Adopted Colima profile %r is left as it is: %s.' % (self.profile, difference))
        self.results['differences'] = differences
        return {'state': params['state']}

    def decide(self):
        params = self.params
        decision = _colima.plan(self.profile, self.desired(), self.before, params['allow_restart'], OPTIONS,
                                params['restart_confirm'])
        if decision['errors']:
            self.module.fail_json(msg=' '.join(decision['errors']), profile=self.before, pending=decision['pending'])
        if (set(decision['actions']) & {'stop', 'recover'} and params['restart_confirm'] != self.profile
                and (params['state'] == 'stopped' or params['adopt'])):
            recover = 'recover' in decision['actions']
            self.module.fail_json(
                msg='Colima profile %r would be stopped (%s), which stops every container in it (the Talos nodes, '
                    'Convex, and in a VM you share your own workloads); nothing was changed. To allow it, set '
                    'restart_confirm=%s (the profile name, as confirmation).%s'
                    % (self.profile, 'it is Broken' if recover else 'state=stopped', self.profile,
                       ' Or recover it by hand: `colima stop --force %s && colima start %s` (nothing is deleted).'
                       % (self.profile, self.profile) if recover else ''), profile=self.before)
        return decision['actions']

    def vm_commands(self, planned):
        """The colima start/stop commands, then what the running VM still needs (kernel modules, DOCKER-USER)."""
        params = self.params
        commands = commands_for(planned, self.profile, params, self.before['exists'])
        if params['state'] != 'running':
            return commands
        running_now = self.before.get('status') == 'Running' and not planned
        for module_name in params['kernel_modules']:
            # A VM that is about to (re)start has none loaded by hand; a running one is asked.
            if not running_now or not self.colima.module_loaded(module_name):
                commands.append(['ssh', '--profile', self.profile, '--', 'sudo', 'modprobe', module_name])
        # Before the Talos nodes exist (this module runs first) and on the running VM now; the provision entry
        # does it again at every boot.
        if params['block_host_access'] and (not running_now or not self.colima.host_guard_in_place()):
            commands.append(['ssh', '--profile', self.profile, '--', 'sudo', 'sh', '-c', _colima.HOST_GUARD_SCRIPT])
        return commands

    def missing_provision(self, guard):
        params = self.params
        if (params['kernel_modules'] or guard) and (self.before['exists'] or params['state'] == 'running'):
            # A profile about to be created gets its colima.yaml from that `colima start`, with no provision entries.
            return _colima.missing_provision(read_colima_yaml(self.module, self.config_path)
                                             if self.before['exists'] else {}, params['kernel_modules'], guard)
        return []

    def run_command(self, args, planned_texts):
        if args[0] != 'ssh':
            self.colima.run(args)
            return
        rc, out, err = self.colima.run(args, check_rc=False)
        if rc == 0:
            return
        if args[-3:-1] == ['sh', '-c']:
            self.module.fail_json(msg='`colima ssh --profile %s -- sudo sh -c <DOCKER-USER rules>` failed (%s): the '
                                      'rules that keep containers off the Lima host address %s could not be '
                                      'installed. Check `colima ssh -- sudo iptables -S DOCKER-USER`.'
                                  % (self.profile, (err or out).strip()[-500:], _colima.LIMA_HOST_ADDRESS))
        self.module.fail_json(msg='`colima %s` failed (%s): kernel module %r from kernel_modules could not be loaded '
                                  'in the Colima VM. Check its name, or remove it from that list.'
                              % (' '.join(args), (err or out).strip()[-500:], args[-1]), actions=planned_texts)

    def add_provision(self, entries):
        # Last: after any `colima start` (which saves the file itself) and only for modules that loaded, since
        # Lima reports a failing provision script when the VM boots.
        write_colima_yaml(self.module, self.config_path,
                          _colima.with_provision(read_colima_yaml(self.module, self.config_path), entries))

    def converge(self):
        params = self.params
        commands = self.vm_commands(self.decide())
        guard = [_colima.host_guard_entry()] if params['block_host_access'] else []
        provision = self.missing_provision(guard)
        planned_texts = [command_text(args) for args in commands]
        for args, text in zip(commands, planned_texts):
            self.act(text, self.run_command, args, planned_texts)
        if provision:
            self.act('add provision entries to %s: %s' % (self.config_path, ', '.join(
                'DOCKER-USER rules' if e in guard else e['script'] for e in provision)),
                self.add_provision, provision)
        after = self.before
        if self.tracker.changed and not self.check_mode:
            after = self.colima.observed(self.colima_dir)
            if params['state'] == 'running' and after.get('status') != 'Running':
                self.fail('Colima profile %r is %r after `colima start`; expected Running. Look at `colima status %s '
                          '--extended` and %s.'
                          % (self.profile, after.get('status', 'missing'), self.profile,
                             os.path.join(self.colima_dir, '_lima', 'colima' if self.profile == 'default'
                                          else 'colima-' + self.profile, 'ha.stderr.log')), profile=after)
        self.track(provision)
        self.results.update(
            mounts=self.mounts_wanted if (self.tracker.changed and params['state'] == 'running'
                                          and self.mounts_wanted is not None) else self.mounts_before,
            profile=after,
            docker_host=after.get('docker_socket') or _colima.docker_socket(self.profile, self.colima_dir),
            version=_colima.version_text(self.version) if self.version else self.version_word,
        )

    def track(self, provision):
        """Before and after for the diff: the profile as it was and as the request makes it."""
        params, before = self.params, self.before
        changed = self.tracker.changed
        resources = params if params['state'] == 'running' and not params['adopt'] else before
        wanted = {'exists': True, 'status': 'Running' if params['state'] == 'running' else 'Stopped',
                  'cpus': resources['cpus'], 'memory': _float(resources['memory']), 'disk': _float(resources['disk']),
                  'vm_type': before.get('vm_type') or params['vm_type'],
                  'arch': before.get('arch') or params['arch'] or '',
                  'runtime': before.get('runtime') or params['runtime']}
        for field in PROFILE_FIELDS:
            self.tracker.add(field, before.get(field), wanted[field] if changed else before.get(field))
        if self.mounts_wanted is not None:
            self.tracker.add('mounts', self.mounts_before,
                             self.mounts_wanted if changed and params['state'] == 'running' else self.mounts_before)
        if provision:
            self.tracker.add('provision', [], [e['script'] for e in provision])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', default='default'),
            state=dict(type='str', default='running', choices=['running', 'stopped']),
            cpus=dict(type='int', default=2),
            memory=dict(type='float', default=2),
            disk=dict(type='int', default=100),
            arch=dict(type='str', choices=['aarch64', 'x86_64']),
            vm_type=dict(type='str', default='vz', choices=['vz', 'qemu', 'krunkit']),
            runtime=dict(type='str', default='docker', choices=['docker', 'containerd', 'incus']),
            allow_restart=dict(type='bool', default=False),
            restart_confirm=dict(type='str', default=''),
            adopt=dict(type='bool', default=False),
            kernel_modules=dict(type='list', elements='str', default=[]),
            block_host_access=dict(type='bool', default=False),
            mounts=dict(type='list', elements='str'),
            extra_start_args=dict(type='list', elements='str', default=[]),
            executable=dict(type='str', default='colima'),
        ),
        supports_check_mode=True,
    )
    validate(module)
    module.exit_json(**ColimaProfileManager(module).run_state(module.params['state']))


if __name__ == '__main__':
    main()
