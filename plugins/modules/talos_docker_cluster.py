#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) joelclaw.macmini maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: talos_docker_cluster
short_description: Create a Talos cluster on Docker with talosctl and keep its node containers running
version_added: 0.1.0
description:
  - Finds the cluster's node containers by the C(talos.cluster.name) label with C(docker ps -a) and reads
    them with C(docker inspect); reads C(talosctl cluster show) (text only, no JSON) for the endpoints.
  - Creates a missing cluster with C(talosctl cluster create docker), with the talosconfig and kubeconfig
    written to the given paths. That subcommand exists since talosctl 1.12; an older talosctl is refused
    before any change. Contexts of the same name left in those files by an earlier cluster are removed
    first, so talosctl never adds renamed copies (C(<name>-1)).
  - Gives the node containers the restart policy O(restart_policy) with C(docker update) (talosctl sets
    none, so without it they stay C(exited) after the Colima VM restarts), and starts node containers that
    are not running, controlplane first.
  - Writes the admin kubeconfig again with C(talosctl kubeconfig --force) when its context is missing. That
    command returns the node's own endpoint on the Docker network inside the VM (for example
    C(https://10.5.0.2:6443)), which macOS cannot reach, so the context's server is set to the
    C(KUBERNETES ENDPOINT) of C(talosctl cluster show) (C(https://127.0.0.1:<port>)); an existing context
    with another server is corrected the same way.
  - Refuses any difference talosctl cannot apply to an existing cluster (workers, image, CPUs, memory,
    published ports) with a message that names the option; it never destroys or recreates a cluster itself
    (O(state=absent) needs O(confirm) equal to O(name)).
  - With O(adopt=true) it takes an existing cluster (for example one that also runs other workloads) as it is;
    it never creates one, reports differences as warnings, imports the cluster's talosconfig context from
    O(adopt_talosconfig) when O(talosconfig) lacks it, and leaves the nodes running.
  - With O(port_bridge=true), a published port the controlplane container lacks (Docker publishes ports only when
    a container is created) is reached through a small bridge container instead, socat on the cluster's Docker
    network, publishing the port on the VM's loopback and forwarding to the node's NodePort.
  - Talos ignores Docker contexts, so O(docker_host) is passed to every command as E(DOCKER_HOST).
author:
  - Joel Hooks (@joelhooks)
options:
  name:
    description: Cluster name (C(--name)); node containers are C(<name>-controlplane-1) and C(<name>-worker-N).
    type: str
    default: talos-default
  state:
    description:
      - V(present) creates the cluster if needed and starts stopped node containers (see O(start_stopped)).
      - V(absent) destroys it with C(talosctl cluster destroy) (containers and their volumes, so every
        PersistentVolume in the cluster) and removes its contexts from O(talosconfig) and O(kubeconfig). Only with
        O(confirm) equal to O(name), after a backup.
    type: str
    choices: [present, absent]
    default: present
  image:
    description:
      - Talos image pinned by tag, e.g. V(ghcr.io/siderolabs/talos:v1.12.11). V(:latest) and untagged images are refused.
      - The tag may be followed by one digest, V(IMAGE:TAG@sha256:<64 lowercase hex>); any other text after C(@) is refused.
    type: str
    required: true
  kubernetes_version:
    description: Kubernetes version for a new cluster (C(--kubernetes-version)); empty keeps talosctl's default.
    type: str
    default: ''
  workers:
    description: Number of worker nodes (one controlplane is fixed by talosctl).
    type: int
    default: 0
  cpus_controlplanes:
    description: CPUs of the controlplane container.
    type: float
    default: 2.0
  memory_controlplanes:
    description: Memory of the controlplane container in GiB.
    type: float
    default: 2.0
  cpus_workers:
    description: CPUs of each worker container.
    type: float
    default: 2.0
  memory_workers:
    description: Memory of each worker container in GiB.
    type: float
    default: 2.0
  published_ports:
    description:
      - Ports the controlplane container publishes, as a mapping name -> C(host_port), C(node_port), optional
        C(protocol) (default V(tcp)) and C(host_ip) (default O(host_ip)). Decided at creation only.
      - C(node_port) must be in 30000-30085, the static band of the default NodePort range (KEP-3668).
    type: dict
    default: {}
  host_ip:
    description:
      - Host address (C(--host-ip)) for the published ports and for talosctl's own API ports (6443 and 50000);
        talosctl applies it to every port binding it makes.
      - Must be a loopback address (127.0.0.0/8 or V(::1)); anything else is refused, as is a port's C(host_ip).
    type: str
    default: 127.0.0.1
  subnet:
    description: Docker network CIDR for the nodes (C(--subnet)).
    type: str
    default: 10.5.0.0/24
  config_patches:
    description: Talos machine-config patches (strategic merge, as data) applied to every node at creation.
    type: list
    elements: raw
    default: []
  talosconfig:
    description: Where talosctl writes the talosconfig (C(--talosconfig-destination)).
    type: path
    required: true
  kubeconfig:
    description: Where the admin kubeconfig is merged (passed as E(KUBECONFIG)).
    type: path
    required: true
  cluster_state_dir:
    description: talosctl's state directory (C(--state)).
    type: path
    default: ~/.talos/clusters
  docker_host:
    description: E(DOCKER_HOST) for the Docker daemon, e.g. Colima's V(unix:///Users/joel/.colima/default/docker.sock).
    type: str
    required: true
  start_stopped:
    description: Start node containers that are not running.
    type: bool
    default: true
  restart_policy:
    description:
      - Docker restart policy of the node containers, set with C(docker update --restart) after the create and
        on existing nodes. V(unless-stopped) lets dockerd start them again whenever the Colima VM boots.
    type: str
    choices: ['no', on-failure, always, unless-stopped]
    default: unless-stopped
  confirm:
    description:
      - Must equal O(name) for O(state=absent); anything else is refused before any change.
    type: str
    default: ''
  adopt:
    description:
      - Take an existing cluster of this name as it is. It must exist (nothing is created); differences in workers,
        image, CPUs and memory are warnings, not errors; node containers are started and given O(restart_policy).
    type: bool
    default: false
  adopt_talosconfig:
    description:
      - With O(adopt=true), the talosconfig that holds the cluster's context (the one C(talosctl cluster create)
        wrote). When O(talosconfig) has no context named O(name), that context is copied into it (mode 0600).
    type: path
    default: ~/.talos/config
  port_bridge:
    description:
      - Reach published ports the controlplane container lacks through bridge containers named
        C(<name>-bridge-<port name>) instead of refusing. Each runs O(port_bridge_image) with C(socat) on the
        cluster's Docker network, publishes C(<host_ip>:<host_port>) in the VM and forwards to C(<node>:<node_port>).
      - A host port the node already publishes to another NodePort is still refused.
    type: bool
    default: false
  port_bridge_image:
    description: Image of the bridge containers, pinned by tag; its C(socat) is run as the entrypoint.
    type: str
    default: docker.io/alpine/socat:1.8.0.3
  kubeconfig_retries:
    description: How many times to try C(talosctl kubeconfig) 5 seconds apart while a just-started node boots.
    type: int
    default: 24
  talosctl_executable:
    description: Path or name of C(talosctl).
    type: str
    default: talosctl
  docker_executable:
    description: Path or name of the C(docker) CLI.
    type: str
    default: docker
requirements:
  - PyYAML on the managed host (to read and prune the talosconfig and kubeconfig)
notes:
  - In diff mode the diff shows, before and after, C(nodes) (C(<container> (<state>))), C(restart_policy),
    C(bridges), C(talosconfig_contexts), C(kubeconfig_contexts), C(kube_server) and C(cluster_state), as far as the
    run looked at them; check mode shows the diff the real run would.
  - The Kubernetes version of an existing cluster is not compared; upgrade it with C(talosctl upgrade-k8s).
extends_documentation_fragment:
  - joelclaw.macmini.attributes
  - joelclaw.macmini.manager
'''

EXAMPLES = r'''
- name: Ensure a single-node Talos cluster runs on Colima's Docker, NodePorts on loopback only.
  joelclaw.macmini.talos_docker_cluster:
    name: joelclaw
    image: ghcr.io/siderolabs/talos:v1.12.11
    kubernetes_version: 1.35.0
    workers: 0
    docker_host: "unix://{{ ansible_facts['user_dir'] }}/.colima/default/docker.sock"
    talosconfig: "{{ ansible_facts['user_dir'] }}/.joelclaw/talosconfig"
    kubeconfig: "{{ ansible_facts['user_dir'] }}/.joelclaw/kubeconfig"
    host_ip: 127.0.0.1
    published_ports:
      api: {host_port: 3210, node_port: 30010}
    config_patches:
      - cluster:
          allowSchedulingOnControlPlanes: true
'''

RETURN = r'''
actions:
  description: Commands run (or, in check mode, that would run) and files rewritten, in order.
  returned: always
  type: list
  elements: str
  sample: ["docker start joelclaw-controlplane-1"]
nodes:
  description: Node containers after the change (before it, in check mode), from C(docker inspect).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "joelclaw-controlplane-1", "role": "controlplane", "state": "running", "ip": "10.5.0.2",
            "image": "ghcr.io/siderolabs/talos:v1.12.11", "restart_policy": "unless-stopped", "nano_cpus": 2000000000,
            "memory": 2147483648, "port_bindings": []}]
controlplane_ip:
  description: Address of the first controlplane on the Docker network (for C(talosctl -n)).
  returned: when the cluster exists
  type: str
  sample: 10.5.0.2
cluster:
  description: The key/value lines of C(talosctl cluster show) (e.g. C(KUBERNETES ENDPOINT)).
  returned: when the cluster exists and check mode did not skip its creation
  type: dict
  sample: {"NAME": "joelclaw", "KUBERNETES ENDPOINT": "https://127.0.0.1:53211"}
kube_context:
  description: The kubeconfig context of the cluster.
  returned: always
  type: str
  sample: admin@joelclaw
bridges:
  description: The port bridge containers (O(port_bridge)) with what each forwards.
  returned: always
  type: dict
  sample: {"joelclaw-bridge-api": "docker.io/alpine/socat:1.8.0.3 3210->joelclaw-controlplane-1:30010 via joelclaw"}
differences:
  description: With O(adopt=true), what differs from the request and was left as it is.
  returned: always
  type: list
  elements: str
  sample: ["memory_controlplanes=4.0 but cluster 'joelclaw' has 2.0 GiB on joelclaw-controlplane-1"]
open_to_all_interfaces:
  description:
    - Port bindings on 0.0.0.0 or without a host address (they listen on every macOS interface through Colima).
      Empty unless O(host_ip) or a port's C(host_ip) asks for that.
  returned: always
  type: list
  elements: str
  sample: []
talosctl_version:
  description: The C(Tag) that C(talosctl version --client) prints.
  returned: when state is present and talosctl printed one
  type: str
  sample: v1.12.11
'''

import json
import os
import re
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.joelclaw.macmini.plugins.module_utils._private_file import write_private

from ansible_collections.joelclaw.macmini.plugins.module_utils import _talos
from ansible_collections.joelclaw.macmini.plugins.module_utils._manager import Manager

try:
    import yaml
    HAS_YAML = True
    YAML_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the managed host
    HAS_YAML = False
    YAML_IMPORT_ERROR = exc

# KEP-3668 (kubernetes/enhancements keps/sig-network/3668-reserved-service-nodeport-range): for the
# default range 30000-32767 the lower min(max(16, 2767 // 32), 128) = 86 ports are the static band.
STATIC_NODE_PORTS = (30000, 30085)

# `talosctl cluster create docker` (cmd/talosctl/cmd/mgmt/cluster/create/cmd_docker.go) is new in v1.12.0;
# v1.11 has only `cluster create --provisioner`.
MIN_TALOSCTL = (1, 12)


class Cluster:
    """Runs docker and talosctl for one cluster with DOCKER_HOST, KUBECONFIG and TALOSCONFIG set."""

    def __init__(self, module):
        self.module = module
        params = module.params
        self.name = params['name']
        self.docker = self._binary('docker_executable', 'docker')
        self.talosctl = self._binary('talosctl_executable', 'talosctl')
        self.env = {'DOCKER_HOST': params['docker_host'], 'KUBECONFIG': params['kubeconfig'],
                    'TALOSCONFIG': params['talosconfig']}
        self.state_dir = params['cluster_state_dir']  # type='path' already expanded ~

    def _binary(self, option, what):
        name = self.module.params[option]
        path = self.module.get_bin_path(name)
        if not path:
            self.module.fail_json(msg='%s=%r: the %s executable was not found on PATH (%s). Install it with Homebrew '
                                      'or set %s to its path.'
                                  % (option, name, what, os.environ.get('PATH', ''), option))
        return path

    def run(self, argv, what, check_rc=True):
        rc, out, err = self.module.run_command(argv, environ_update=self.env)
        if check_rc and rc != 0:
            self.module.fail_json(msg='`%s` failed with exit code %d (DOCKER_HOST=%s): %s'
                                      % (what, rc, self.env['DOCKER_HOST'], (err or out).strip()[-2000:]),
                                  rc=rc, stdout=out, stderr=err)
        return rc, out, err

    def nodes(self):
        rc, out, err = self.run([self.docker, 'ps', '--all', '--filter', 'label=talos.cluster.name=' + self.name,
                                 '--format', '{{.Names}}'], 'docker ps', check_rc=False)
        if rc != 0:
            self.module.fail_json(
                msg='The Docker daemon at docker_host=%s did not answer (%s). Talos ignores Docker contexts and '
                    'needs Colima running: check `colima status` and that docker_host points at the profile\'s '
                    'docker.sock.' % (self.env['DOCKER_HOST'], (err or out).strip()[-500:]))
        names = _talos.parse_names(out)
        if not names:
            return []
        # Only the fields summarize() reads: the full object's Config.Env carries USERDATA, the machine config
        # with every cluster CA key (siderolabs/talos v1.12.11 providers/docker/node.go). On failure docker
        # still prints the objects it found (docker/cli v28.5.2 inspector.go), so stdout is never returned.
        rc, out, err = self.run([self.docker, 'inspect', '--format', _talos.INSPECT_FORMAT] + names, 'docker inspect',
                                check_rc=False)
        if rc != 0:
            self.module.fail_json(msg='`docker inspect` failed with exit code %d (DOCKER_HOST=%s): %s'
                                      % (rc, self.env['DOCKER_HOST'], err.strip()[-2000:]), rc=rc, stderr=err)
        try:
            return _talos.summarize(self.name, _talos.parse_inspect(out))
        except _talos.TalosOutputError as exc:
            self.module.fail_json(msg=str(exc))

    def bridges(self):
        """{container name: {'state', 'spec'}} of the port bridges of this cluster."""
        rc, out, err = self.run([self.docker, 'ps', '--all', '--filter', 'label=%s=%s' % (_talos.BRIDGE_LABEL,
                                 self.name), '--format', '{{.Names}}'], 'docker ps', check_rc=False)
        names = _talos.parse_names(out) if rc == 0 else []
        if not names:
            return {}
        fmt = ('{"Name":{{json .Name}},"State":{"Status":{{json .State.Status}}},'
               '"Config":{"Labels":{{json .Config.Labels}}}}')
        rc, out, err = self.run([self.docker, 'inspect', '--format', fmt] + names, 'docker inspect', check_rc=False)
        if rc != 0:
            self.module.fail_json(msg='`docker inspect` of the port bridges failed (DOCKER_HOST=%s): %s'
                                      % (self.env['DOCKER_HOST'], err.strip()[-1000:]))
        found = {}
        for item in _talos.parse_inspect(out):
            labels = (item.get('Config') or {}).get('Labels') or {}
            found[item['Name'].lstrip('/')] = {'state': (item.get('State') or {}).get('Status', ''),
                                               'spec': labels.get(_talos.BRIDGE_SPEC_LABEL, '')}
        return found

    def client_version(self):
        """((major, minor), tag) of talosctl, or (None, None) when its output has no version."""
        _rc, out, err = self.run([self.talosctl, 'version', '--client'], 'talosctl version --client', check_rc=False)
        return _talos.parse_client_version(out + '\n' + err)

    def show(self):
        rc, out, err = self.run([self.talosctl, 'cluster', 'show', '--name', self.name, '--state', self.state_dir],
                                'talosctl cluster show', check_rc=False)
        if rc != 0:
            self.module.warn('`talosctl cluster show` failed: %s' % (err or out).strip()[-500:])
            return {}
        try:
            return _talos.parse_cluster_show(out)['fields']
        except _talos.TalosOutputError as exc:
            self.module.warn(str(exc))
            return {}


def destroy_advice(name, docker_host):
    """The only way this collection ever names `talosctl cluster destroy`: with its consequences and a backup first."""
    return ('Recreating it is a last resort: `talosctl cluster destroy` deletes every node container and volume of '
            'cluster %r, so every PersistentVolume in it is lost for good (Convex\'s database and, in a cluster you '
            'share, your own workloads such as Redis, Qdrant and Inngest). Only after a backup of all of them '
            '(`ansible-playbook playbooks/backup.yml` for Convex, your own for the rest), and only on purpose: '
            '`DOCKER_HOST=%s talosctl cluster destroy --name %s`, then re-run.' % (name, docker_host, name))


def create_argv(cluster, params):
    argv = [cluster.talosctl, 'cluster', 'create', 'docker',
            '--name', params['name'],
            '--state', cluster.state_dir,
            '--image', params['image'],
            '--workers', str(params['workers']),
            '--cpus-controlplanes', _talos.cpus_flag(params['cpus_controlplanes']),
            '--memory-controlplanes', _talos.size_flag(params['memory_controlplanes']),
            '--cpus-workers', _talos.cpus_flag(params['cpus_workers']),
            '--memory-workers', _talos.size_flag(params['memory_workers']),
            '--host-ip', params['host_ip'],
            '--subnet', params['subnet'],
            '--talosconfig-destination', params['talosconfig']]
    if params['kubernetes_version']:
        argv += ['--kubernetes-version', params['kubernetes_version'].lstrip('v')]
    if params['published_ports']:
        argv += ['--exposed-ports', _talos.exposed_ports_flag(params['published_ports'], params['host_ip'])]
    for patch in params['config_patches']:
        # Inline patches are YAML; JSON is YAML, and keeps the argument on one line.
        argv += ['--config-patch', _json(patch)]
    return argv


def _json(value):
    return json.dumps(value, sort_keys=True, separators=(',', ':'))


def load_yaml(module, path):
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding='utf-8') as handle:
            return yaml.safe_load(handle) or {}
    except (OSError, yaml.YAMLError) as exc:
        module.fail_json(msg='Cannot read %s as YAML (%s). Move it aside and re-run; it will be written again.'
                             % (path, exc))


def write_yaml(module, path, data):
    try:
        write_private(path, yaml.safe_dump(data, default_flow_style=False, sort_keys=False), create_dir=False)
    except OSError as exc:
        module.fail_json(msg='Cannot write %s: %s' % (path, exc))


def make_private_dir(path):
    if not os.path.isdir(os.path.dirname(path)):
        os.makedirs(os.path.dirname(path), mode=0o700)


def node_states(nodes):
    return ['%s (%s)' % (n['name'], n['state']) for n in nodes]


class TalosClusterManager(Manager):
    """One Talos-on-Docker cluster: present() creates or converges it, absent() destroys it.

    The tracker's names: nodes (`<container> (<state>)`), restart_policy ({container: policy}), bridges
    ({container: spec}), talosconfig_contexts, kubeconfig_contexts, kube_server and cluster_state.
    """

    def __init__(self, module):
        super().__init__(module)
        self.cluster = Cluster(module)
        self.name = self.params['name']
        self.kube_context = 'admin@' + self.name
        self.talosctl_tag = None
        self.shown = None
        self.results = dict(kube_context=self.kube_context, bridges={}, differences=[])

    # ------------------------------------------------------------ reading
    def read(self):
        self.nodes = self.cluster.nodes()
        self.talosconfig = load_yaml(self.module, self.params['talosconfig'])
        self.kubeconfig = load_yaml(self.module, self.params['kubeconfig'])
        self.tracker.add('nodes', node_states(self.nodes), node_states(self.nodes))
        self.track_contexts()

    def track_contexts(self):
        self.tracker.add('talosconfig_contexts', _talos.context_names(self.talosconfig),
                         _talos.context_names(self.talosconfig))
        self.tracker.add('kubeconfig_contexts', _talos.context_names(self.kubeconfig),
                         _talos.context_names(self.kubeconfig))

    def check_talosctl(self):
        version, self.talosctl_tag = self.cluster.client_version()
        if version is None:
            self.module.warn('`%s version --client` printed no version; assuming it has `cluster create docker` '
                             '(talosctl 1.12 or later).' % self.cluster.talosctl)
        elif version < MIN_TALOSCTL:
            self.module.fail_json(msg='talosctl %s was found at %s (talosctl_executable), but this module runs '
                                      '`talosctl cluster create docker`, which exists since talosctl 1.12. Upgrade it '
                                      'with `brew upgrade talosctl` and re-run; nothing was changed.'
                                  % (self.talosctl_tag, self.cluster.talosctl))

    # ------------------------------------------------------------ states
    def absent(self):
        self.read()
        params = self.params
        if self.nodes and params['confirm'] != self.name:
            self.module.fail_json(msg='state=absent would destroy Talos cluster %r with every volume in it; nothing '
                                      'was changed. confirm=%r must equal name=%r. %s'
                                  % (self.name, params['confirm'], self.name,
                                     destroy_advice(self.name, params['docker_host'])))
        if self.nodes:
            self.act('talosctl cluster destroy --name %s' % self.name, self.cluster.run,
                     [self.cluster.talosctl, 'cluster', 'destroy', '--name', self.name, '--state',
                      self.cluster.state_dir], 'talosctl cluster destroy')
            self.tracker.add('nodes', node_states(self.nodes), [])
        self.prune()
        self.results.update(nodes=[] if not self.check_mode else self.nodes, open_to_all_interfaces=[])

    def present(self):
        self.check_talosctl()
        self.read()
        if not self.nodes and self.params['adopt']:
            self.module.fail_json(
                msg='adopt=true but no Talos cluster %r runs at docker_host=%s (no container labelled '
                    'talos.cluster.name=%s); nothing was created. Set name= to the name of the existing cluster '
                    '(`docker ps --filter label=talos.owned=true` lists the nodes of every Talos cluster), or set '
                    'adopt=false to let the collection create its own.'
                    % (self.name, self.params['docker_host'], self.name))
        if self.nodes:
            self.converge()
        else:
            self.create()
        self.results.update(nodes=self.nodes, open_to_all_interfaces=_talos.open_to_all_interfaces(self.nodes))
        if self.talosctl_tag:
            self.results['talosctl_version'] = self.talosctl_tag
        if self.nodes:
            self.results['controlplane_ip'] = self.controlplane_ip()
            self.results['cluster'] = self.shown if self.shown is not None else self.cluster.show()

    # ------------------------------------------------------------ steps
    def prune(self):
        """Remove the cluster's contexts (and renamed copies) from the talosconfig and kubeconfig."""
        for option, pruner, context in (('talosconfig', _talos.prune_talosconfig, self.name),
                                        ('kubeconfig', _talos.prune_kubeconfig, self.kube_context)):
            data = getattr(self, option)
            if data is None:
                continue
            new, removed = pruner(data, context)
            if removed:
                self.act('remove contexts %s from %s' % (', '.join(removed), self.params[option]),
                         write_yaml, self.module, self.params[option], new)
                setattr(self, option, new)
        self.track_contexts()

    def create(self):
        params = self.params
        stale = os.path.join(self.cluster.state_dir, self.name)
        if os.path.isdir(stale):
            # state.yaml of a cluster whose containers are gone; talosctl would refuse to create over it.
            aside = '%s.orphaned-%d' % (stale, int(time.time()))
            self.act('move %s to %s' % (stale, aside), os.rename, stale, aside)
            self.tracker.add('cluster_state', stale, aside)
        self.prune()
        argv = create_argv(self.cluster, params)
        wanted = ['%s-controlplane-1 (running)' % self.name] + ['%s-worker-%d (running)' % (self.name, i + 1)
                                                                for i in range(params['workers'])]
        self.tracker.add('nodes', [], wanted)
        self.tracker.add('talosconfig_contexts', [], [self.name])
        self.tracker.add('kubeconfig_contexts', [], [self.kube_context])
        self.act(' '.join(['talosctl'] + argv[1:]))
        if self.check_mode:
            if params['restart_policy'] != 'no':  # what ensure_restart_policy will find: nodes without a policy
                names = [w.split(' ')[0] for w in wanted]
                self.act('docker update --restart %s %s' % (params['restart_policy'], ' '.join(
                    names[:1] + sorted(names[1:]))))
                self.tracker.add('restart_policy', dict.fromkeys(names, 'no'),
                                 dict.fromkeys(names, params['restart_policy']))
            return
        for path in (params['talosconfig'], params['kubeconfig']):
            make_private_dir(path)
        self.cluster.run(argv, 'talosctl cluster create docker')
        self.nodes = self.cluster.nodes()
        if not self.nodes:
            self.fail('`talosctl cluster create docker` succeeded but no container labelled talos.cluster.name=%s '
                      'exists at docker_host=%s.' % (self.name, params['docker_host']))
        for path in (params['talosconfig'], params['kubeconfig']):
            if os.path.exists(path):
                os.chmod(path, 0o600)
        self.ensure_restart_policy()

    def converge(self):
        params = self.params
        problems = _talos.drift(self.name, params, self.nodes, compare_ports=not params['port_bridge'])
        ports = _talos.port_plan(params['published_ports'], params['host_ip'], self.nodes) \
            if params['port_bridge'] else None
        if params['adopt'] and problems:
            self.results['differences'] = problems
            for problem in problems:
                self.module.warn('Adopted Talos cluster %r is left as it is: %s.' % (self.name, problem))
            problems = []
        if ports and ports['conflicts']:
            problems += ['published_ports: %s' % conflict for conflict in ports['conflicts']]
        if problems:
            self.module.fail_json(
                msg='Talos cluster %r differs from the request and talosctl cannot change a docker cluster in place: '
                    '%s. Nothing was changed. Set the options back to what the cluster has%s. %s'
                    % (self.name, '; '.join(problems), ' or set adopt=true to take it as it is'
                       if not params['adopt'] else '', destroy_advice(self.name, params['docker_host'])),
                nodes=self.nodes)
        # Before any change to the nodes: without the cluster's client certificates nothing else can be checked.
        self.ensure_talos_context()
        self.ensure_restart_policy()
        self.start_nodes()
        if ports is not None:
            self.ensure_bridges(ports['missing'])
        self.ensure_kubeconfig()
        self.warn_renamed_copies()

    def ensure_talos_context(self):
        params = self.params
        if self.name not in _talos.context_names(self.talosconfig) and params['adopt']:
            imported = self.import_talos_context()
            if imported is not None:
                self.act('copy talosconfig context %s from %s to %s' % (self.name, params['adopt_talosconfig'],
                                                                        params['talosconfig']),
                         self.write_talosconfig, imported)
                self.talosconfig = imported
                self.track_contexts()
        if self.name not in _talos.context_names(self.talosconfig):
            self.module.fail_json(
                msg='Talos cluster %r exists but talosconfig=%s has no %r context%s, and only `talosctl cluster '
                    'create` writes it (it holds the cluster\'s client certificates). Restore the file%s. Nothing was '
                    'changed. %s'
                    % (self.name, params['talosconfig'], self.name,
                       ' (nor has adopt_talosconfig=%s)' % params['adopt_talosconfig'] if params['adopt'] else '',
                       ', or set adopt_talosconfig= to the talosconfig that has it' if params['adopt']
                       else ' (or set adopt=true and adopt_talosconfig= to a talosconfig that has it)',
                       destroy_advice(self.name, params['docker_host'])))

    def write_talosconfig(self, config):
        make_private_dir(self.params['talosconfig'])
        write_yaml(self.module, self.params['talosconfig'], config)

    def import_talos_context(self):
        """The context `name` of adopt_talosconfig as a talosconfig of its own, or None."""
        source = load_yaml(self.module, self.params['adopt_talosconfig'])
        contexts = (source or {}).get('contexts') or {}
        if not isinstance(contexts, dict) or self.name not in contexts:
            return None
        config = dict(self.talosconfig or {})
        config['contexts'] = dict(config.get('contexts') or {}, **{self.name: contexts[self.name]})
        config['context'] = config.get('context') or self.name
        return config

    def ensure_restart_policy(self):
        """`docker update --restart <policy>` on node containers that lack it."""
        policy = self.params['restart_policy']
        names = _talos.restart_updates(self.nodes, policy)
        if not names:
            return
        self.tracker.add('restart_policy', {n['name']: n['restart_policy'] for n in self.nodes},
                         {n['name']: policy for n in self.nodes})
        self.act('docker update --restart %s %s' % (policy, ' '.join(names)), self.cluster.run,
                 [self.cluster.docker, 'update', '--restart', policy] + names, 'docker update --restart')
        if not self.check_mode:
            self.nodes = self.cluster.nodes()

    def start_nodes(self):
        to_start = _talos.start_order(self.nodes) if self.params['start_stopped'] else []
        for node_name in to_start:
            self.act('docker start %s' % node_name, self.cluster.run, [self.cluster.docker, 'start', node_name],
                     'docker start %s' % node_name)
        if to_start:
            self.tracker.add('nodes', node_states(self.nodes),
                             ['%s (running)' % n['name'] for n in self.nodes])
            if not self.check_mode:
                self.nodes = self.cluster.nodes()

    def ensure_bridges(self, missing):
        """Run, replace or start the bridge containers for the ports the controlplane does not publish."""
        params = self.params
        docker = self.cluster.docker
        controlplane = next(n for n in self.nodes if n['role'] == 'controlplane')
        network = controlplane['networks'][0] if controlplane.get('networks') else self.name
        wanted = _talos.bridge_specs(self.name, missing, controlplane['name'], network, params['port_bridge_image'])
        have = self.cluster.bridges()
        policy = params['restart_policy'] if params['restart_policy'] != 'no' else 'unless-stopped'
        self.tracker.add('bridges', {name: '%s (%s)' % (b['spec'], b['state']) for name, b in sorted(have.items())
                                     if name in wanted},
                         {name: '%s (running)' % spec['spec'] for name, spec in sorted(wanted.items())})
        for name, spec in sorted(wanted.items()):
            current = have.get(name)
            if current and current['spec'] == spec['spec']:
                if current['state'] != 'running':
                    self.act('docker start %s' % name, self.cluster.run, [docker, 'start', name],
                             'docker start %s' % name)
                continue
            if current:  # ours, stateless: replaced when it forwards something else
                self.act('docker rm --force %s' % name, self.cluster.run, [docker, 'rm', '--force', name],
                         'docker rm --force %s' % name)
            argv = _talos.bridge_run_argv(docker, name, self.name, spec, policy)
            self.act(' '.join(['docker'] + argv[1:]), self.cluster.run, argv, 'docker run %s' % name)
        self.results['bridges'] = {name: spec['spec'] for name, spec in wanted.items()}

    def controlplane_ip(self):
        return next((n['ip'] for n in self.nodes if n['role'] == 'controlplane'), '')

    def ensure_kubeconfig(self):
        """Write the admin kubeconfig again when its context is missing; point its server at the published port."""
        params = self.params
        self.shown = self.cluster.show()
        endpoint = self.shown.get('KUBERNETES ENDPOINT', '')
        recovered = self.kube_context not in _talos.context_names(self.kubeconfig)
        server_before = _talos.kube_server(self.kubeconfig, self.kube_context)
        if not endpoint and (recovered or server_before is None):
            # Before `talosctl kubeconfig`, so the unroutable node address is never written.
            self.fail('`talosctl cluster show --name %s` printed no KUBERNETES ENDPOINT (the host port of the '
                      'controlplane\'s 6443/tcp), so the kubeconfig context %s cannot be pointed at an address macOS '
                      'can reach; `talosctl kubeconfig` alone would write the node\'s own address. Check '
                      '`DOCKER_HOST=%s docker port %s-controlplane-1`.'
                      % (self.name, self.kube_context, params['docker_host'], self.name), cluster=self.shown)
        if recovered:
            argv = [self.cluster.talosctl, '--talosconfig', params['talosconfig'], '--context', self.name,
                    '--nodes', self.controlplane_ip(), 'kubeconfig', '--force', params['kubeconfig']]
            self.act(' '.join(['talosctl'] + argv[1:]), self.download_kubeconfig, argv)
            self.tracker.add('kubeconfig_contexts', _talos.context_names(self.kubeconfig),
                             sorted(set(_talos.context_names(self.kubeconfig)) | {self.kube_context}))
        server = _talos.kube_server(self.kubeconfig, self.kube_context)
        if not endpoint:
            self.module.warn('`talosctl cluster show --name %s` printed no KUBERNETES ENDPOINT, so the server of %s '
                             'in %s (%s) was not checked.' % (self.name, self.kube_context, params['kubeconfig'],
                                                              server))
            return
        self.tracker.add('kube_server', server_before, endpoint)
        if server != endpoint:
            self.act('set the server of %s in %s to %s' % (self.kube_context, params['kubeconfig'], endpoint),
                     self.set_kube_server, endpoint)

    def download_kubeconfig(self, argv):
        # A node started a moment ago answers on apid only once it has booted.
        for _attempt in range(max(self.params['kubeconfig_retries'], 1) - 1):
            if self.cluster.run(argv, 'talosctl kubeconfig', check_rc=False)[0] == 0:
                break
            time.sleep(5)
        else:
            self.cluster.run(argv, 'talosctl kubeconfig')
        os.chmod(self.params['kubeconfig'], 0o600)
        self.kubeconfig = load_yaml(self.module, self.params['kubeconfig'])

    def set_kube_server(self, endpoint):
        self.kubeconfig = _talos.set_kube_server(self.kubeconfig, self.kube_context, endpoint)
        write_yaml(self.module, self.params['kubeconfig'], self.kubeconfig)

    def warn_renamed_copies(self):
        for option, base, config in (('talosconfig', self.name, self.talosconfig),
                                     ('kubeconfig', self.kube_context, self.kubeconfig)):
            extra = _talos.duplicates(_talos.context_names(config), base)
            if extra:
                self.module.warn('%s=%s has renamed copies of %r: %s. They point at clusters that no longer exist; '
                                 'remove them with `talosctl config remove` / `kubectl config delete-context`.'
                                 % (option, self.params[option], base, ', '.join(extra)))


# Tag grammar: distribution/reference@0965666a regexp.go (`tag`); a sha256 digest is 64 lowercase hex
# (opencontainers/go-digest@137fd2bb algorithm.go, hexDigestRegex).
IMAGE_TAG = re.compile(r'[\w][\w.-]{0,127}', re.ASCII)  # Go's \w is ASCII
IMAGE_DIGEST = re.compile(r'sha256:[0-9a-f]{64}')


def image_problem(image):
    """Why image is not IMAGE:TAG or IMAGE:TAG@sha256:<digest>, or None."""
    name, at, digest = image.partition('@')
    if at and not IMAGE_DIGEST.fullmatch(digest):
        return ('image=%r has a malformed digest; expected IMAGE:TAG@sha256:<64 lowercase hex> (as '
                '`docker buildx imagetools inspect IMAGE:TAG` prints it, see the colima_talos README) or no digest.'
                % image)
    tag = name.rsplit('/', 1)[-1].partition(':')[2]
    if not IMAGE_TAG.fullmatch(tag) or tag == 'latest':
        return ('image=%r is not pinned; expected a tagged image such as ghcr.io/siderolabs/talos:v1.12.11 '
                '(optionally followed by @sha256:<digest>). talosctl derives the config contract from the tag.' % image)
    return None


def validate(module):
    params = module.params
    problem = image_problem(params['image'])
    if problem:
        module.fail_json(msg=problem)
    if params['workers'] < 0:
        module.fail_json(msg='workers=%r; expected 0 or more.' % params['workers'])
    for key in ('cpus_controlplanes', 'memory_controlplanes', 'cpus_workers', 'memory_workers'):
        if params[key] <= 0:
            module.fail_json(msg='%s=%r; expected a positive number.' % (key, params[key]))
    for name, port in params['published_ports'].items():
        if not re.match(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}\Z', str(name)):
            module.fail_json(msg='published_ports has the port name %r; expected letters, digits, ".", "_" and "-" '
                                 '(it names the port bridge container <cluster>-bridge-<name>).' % (name,))
        if not isinstance(port, dict) or 'host_port' not in port or 'node_port' not in port:
            module.fail_json(msg='published_ports.%s=%r; expected a mapping with host_port and node_port.'
                                 % (name, port))
        try:
            node_port = int(port['node_port'])
            host_port = int(port['host_port'])
        except (TypeError, ValueError):
            module.fail_json(msg='published_ports.%s=%r; host_port and node_port must be integers.' % (name, port))
        if not STATIC_NODE_PORTS[0] <= node_port <= STATIC_NODE_PORTS[1] or not 1 <= host_port <= 65535:
            module.fail_json(msg='published_ports.%s=%r; expected node_port in 30000-30085 (the static band of the '
                                 'NodePort range: since Kubernetes 1.29, KEP-3668, a Service without a nodePort gets '
                                 '30086-32767 first) and host_port in 1-65535.' % (name, port))
    # talosctl publishes its own API ports (6443, 50000) on --host-ip too (siderolabs/talos v1.12.11
    # providers/docker genPortMap with DockerPortsHostIP): anything but loopback puts them on the LAN.
    if not _talos.is_loopback(params['host_ip']):
        module.fail_json(msg='host_ip=%r; published ports must stay on loopback (127.0.0.0/8 or ::1). talosctl also '
                             'publishes the Kubernetes and Talos APIs there; expose services through caddy_tailscale '
                             'instead.' % params['host_ip'])
    for name, port in params['published_ports'].items():
        if 'host_ip' in port and not _talos.is_loopback(port['host_ip']):
            module.fail_json(msg='published_ports.%s.host_ip=%r; published ports must stay on loopback '
                                 '(127.0.0.0/8 or ::1); expose services through caddy_tailscale instead.'
                                 % (name, port['host_ip']))
    for index, patch in enumerate(params['config_patches']):
        if not isinstance(patch, (dict, list)):
            module.fail_json(msg='config_patches[%d]=%r; expected a mapping (strategic merge patch) or a list (JSON '
                                 'patch).' % (index, patch))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', default='talos-default'),
            state=dict(type='str', default='present', choices=['present', 'absent']),
            image=dict(type='str', required=True),
            kubernetes_version=dict(type='str', default=''),
            workers=dict(type='int', default=0),
            cpus_controlplanes=dict(type='float', default=2.0),
            memory_controlplanes=dict(type='float', default=2.0),
            cpus_workers=dict(type='float', default=2.0),
            memory_workers=dict(type='float', default=2.0),
            published_ports=dict(type='dict', default={}),
            host_ip=dict(type='str', default='127.0.0.1'),
            subnet=dict(type='str', default='10.5.0.0/24'),
            config_patches=dict(type='list', elements='raw', default=[]),
            talosconfig=dict(type='path', required=True),
            kubeconfig=dict(type='path', required=True),
            cluster_state_dir=dict(type='path', default='~/.talos/clusters'),
            docker_host=dict(type='str', required=True),
            start_stopped=dict(type='bool', default=True),
            restart_policy=dict(type='str', default='unless-stopped', choices=['no', 'on-failure', 'always',
                                                                               'unless-stopped']),
            confirm=dict(type='str', default='', no_log=False),
            adopt=dict(type='bool', default=False),
            adopt_talosconfig=dict(type='path', default='~/.talos/config'),
            port_bridge=dict(type='bool', default=False),
            port_bridge_image=dict(type='str', default='docker.io/alpine/socat:1.8.0.3'),
            kubeconfig_retries=dict(type='int', default=24),
            talosctl_executable=dict(type='str', default='talosctl'),
            docker_executable=dict(type='str', default='docker'),
        ),
        supports_check_mode=True,
    )
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib('PyYAML'), exception=str(YAML_IMPORT_ERROR))
    validate(module)
    module.exit_json(**TalosClusterManager(module).run_state(module.params['state']))


if __name__ == '__main__':
    main()
