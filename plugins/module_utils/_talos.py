# -*- coding: utf-8 -*-
# Copyright (c) joelclaw.macmini maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Private to joelclaw.macmini: may change without notice. Only the collection's modules import it.
"""Parse talosctl/docker output for a `talosctl cluster create docker` cluster and decide what it needs."""

from __future__ import annotations

import ipaddress
import json
import re

GIB = 1024 ** 3
# Ports talosctl publishes on the first controlplane for its own APIs (on random host ports).
API_CONTAINER_PORTS = ('50000/tcp', '6443/tcp')


class TalosOutputError(Exception):
    """talosctl or docker printed something this collection cannot read."""


def parse_cluster_show(stdout):
    """`talosctl cluster show` has no JSON: `KEY   value` lines, then `NODES:` and a table.

    Both blocks come from Go's text/tabwriter (cmd/talosctl/cmd/mgmt/cluster/show.go, siderolabs/talos
    v1.12.11): every cell but the last is padded to its column's width plus three spaces. Cells may hold
    spaces themselves (RAM and DISK are humanize.Bytes, e.g. `4.3 GB`; an exited node's IP prints as
    `invalid IP`), so node rows are cut at the columns where the header's names start, not at whitespace.

    Returns {'fields': {KEY: value}, 'nodes': [{name, type, ip, cpu, ram, disk}]}.
    """
    fields, nodes = {}, []
    columns = None
    in_nodes = False
    for line in stdout.splitlines():
        if not line.strip():
            continue
        if line.strip() == 'NODES:':
            in_nodes = True
            continue
        if not in_nodes:
            match = re.match(r'^([A-Z][A-Z ]*[A-Z])\s{2,}(.*?)\s*$', line) or re.match(r'^([A-Z][A-Z ]*[A-Z])\s*$', line)
            if not match:
                raise TalosOutputError('unexpected line in `talosctl cluster show`: %r' % line[:200])
            fields[match.group(1)] = match.group(2).strip() if match.lastindex and match.lastindex > 1 else ''
            continue
        if columns is None:
            columns = [(m.start(), m.group(0).lower()) for m in re.finditer(r'\S+', line)]
            if [name for _start, name in columns[:3]] != ['name', 'type', 'ip']:
                raise TalosOutputError('unexpected NODES header in `talosctl cluster show`: %r' % line[:200])
            continue
        row = {}
        for index, (start, name) in enumerate(columns):
            end = columns[index + 1][0] if index + 1 < len(columns) else None
            if start > 0 and line[start - 1:start] not in (' ', ''):
                raise TalosOutputError('a node row of `talosctl cluster show` does not line up with its header: %r'
                                       % line[:200])
            row[name] = line[start:end].strip()
        nodes.append(row)
    if 'NAME' not in fields:
        raise TalosOutputError('`talosctl cluster show` printed no NAME line: %r' % stdout[:200])
    return {'fields': fields, 'nodes': nodes}


def parse_names(stdout):
    """`docker ps --format '{{.Names}}'`: one name per line."""
    return sorted(line.strip() for line in stdout.splitlines() if line.strip())


# `docker inspect --format`: one JSON object per container with only what summarize() reads, never Config.Env
# (the Talos machine config, CA keys included). `json` is docker's template function (docker/cli v28.5.2
# templates/templates.go); with a template, each container prints one line (cli/command/inspect/inspector.go).
INSPECT_FORMAT = ('{"Name":{{json .Name}},"State":{"Status":{{json .State.Status}}},'
                  '"Config":{"Image":{{json .Config.Image}},"Labels":{{json .Config.Labels}}},'
                  '"HostConfig":{"NanoCpus":{{json .HostConfig.NanoCpus}},"Memory":{{json .HostConfig.Memory}},'
                  '"RestartPolicy":{"Name":{{json .HostConfig.RestartPolicy.Name}}},'
                  '"PortBindings":{{json .HostConfig.PortBindings}}},'
                  '"NetworkSettings":{"Networks":{{json .NetworkSettings.Networks}}}}')


def parse_inspect(stdout):
    """`docker inspect --format INSPECT_FORMAT`: one JSON object per line (a JSON array is accepted too).
    Errors never quote the output."""
    text = stdout.strip()
    try:
        if text.startswith('['):
            data = json.loads(text)
        else:
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
    except ValueError as exc:
        raise TalosOutputError('`docker inspect` did not print JSON (%s); run it by hand to see why.' % exc)
    if not isinstance(data, list) or not all(isinstance(item, dict) and 'Name' in item for item in data):
        raise TalosOutputError('`docker inspect` printed %s, expected JSON objects' % type(data).__name__)
    return data


def node_role(cluster, container):
    """controlplane or worker, from the name talosctl gives (<cluster>-controlplane-N / -worker-N)."""
    name = container.get('Name', '').lstrip('/')
    if name.startswith(cluster + '-controlplane-'):
        return 'controlplane'
    if name.startswith(cluster + '-worker-'):
        return 'worker'
    label = (container.get('Config') or {}).get('Labels') or {}
    kind = label.get('talos.type', '')
    return 'worker' if kind == 'worker' else 'controlplane'


def summarize(cluster, containers):
    """Reduce `docker inspect` objects to what the module compares and reports."""
    nodes = []
    for item in containers:
        host = item.get('HostConfig') or {}
        networks = (item.get('NetworkSettings') or {}).get('Networks') or {}
        ip = ''
        for net in networks.values():
            ip = ((net or {}).get('IPAMConfig') or {}).get('IPv4Address') or (net or {}).get('IPAddress') or ip
        bindings = []
        for container_port, hosts in sorted((host.get('PortBindings') or {}).items()):
            for binding in hosts or []:
                bindings.append({'container_port': container_port, 'host_ip': binding.get('HostIp') or '',
                                 'host_port': str(binding.get('HostPort') or '')})
        nodes.append({
            'name': item.get('Name', '').lstrip('/'),
            'role': node_role(cluster, item),
            'state': (item.get('State') or {}).get('Status', 'unknown'),
            'image': (item.get('Config') or {}).get('Image', ''),
            'ip': ip,
            'nano_cpus': host.get('NanoCpus') or 0,
            'memory': host.get('Memory') or 0,
            'restart_policy': ((host.get('RestartPolicy') or {}).get('Name') or 'no'),
            'port_bindings': bindings,
            'networks': sorted(networks),
        })
    nodes.sort(key=lambda n: (n['role'] != 'controlplane', n['name']))
    return nodes


def is_loopback(address):
    """True for 127.0.0.0/8 and ::1 written as plain addresses (no zone, no brackets, no names)."""
    try:
        return ipaddress.ip_address(str(address)).is_loopback
    except ValueError:
        return False


def wanted_bindings(published_ports, host_ip):
    """convex_published_ports ({name: {host_port, node_port, protocol?}}) -> sorted binding dicts."""
    result = []
    for _name, port in sorted(published_ports.items()):
        result.append({'container_port': '%s/%s' % (int(port['node_port']), port.get('protocol', 'tcp')),
                       'host_ip': port.get('host_ip', host_ip), 'host_port': str(int(port['host_port']))})
    return sorted(result, key=lambda b: (b['container_port'], b['host_port']))


def exposed_ports_flag(published_ports, host_ip):
    """-p value: `<hostIP>:<hostPort>:<containerPort>/<proto>,…` (genPortMap accepts the host IP form)."""
    return ','.join('%s:%s:%s' % (b['host_ip'], b['host_port'], b['container_port'])
                    for b in wanted_bindings(published_ports, host_ip))


def size_flag(gib):
    """talosctl takes sizes with units; its own default prints as 2.0GiB."""
    return '%sGiB' % (('%.1f' % gib) if float(gib).is_integer() else repr(float(gib)))


def cpus_flag(cpus):
    return '%.1f' % cpus if float(cpus).is_integer() else repr(float(cpus))


def drift(name, desired, nodes, variables=None, compare_ports=True):
    """What differs between the running cluster and the request, as messages naming the option.

    talosctl cannot change a docker cluster in place: every difference means recreating it. With
    compare_ports=False the published ports are left to port_plan (missing ones can be bridged).
    variables: option name -> the name to print instead (by default the option's own).
    """
    variables = dict({key: key for key in ('workers', 'image', 'cpus_controlplanes', 'memory_controlplanes',
                                           'cpus_workers', 'memory_workers', 'published_ports')},
                     **(variables or {}))
    problems = []
    controlplanes = [n for n in nodes if n['role'] == 'controlplane']
    workers = [n for n in nodes if n['role'] == 'worker']

    def add(variable, wanted, current):
        problems.append('%s=%s but cluster %r has %s' % (variable, wanted, name, current))

    if len(workers) != desired['workers']:
        add(variables['workers'], desired['workers'], '%d worker(s)' % len(workers))
    images = sorted(set(n['image'] for n in nodes))
    if images != [desired['image']]:
        add(variables['image'], desired['image'], 'image %s' % ', '.join(images))
    for role, group, cpus_key, mem_key in (('controlplane', controlplanes, 'cpus_controlplanes', 'memory_controlplanes'),
                                           ('worker', workers, 'cpus_workers', 'memory_workers')):
        for node in group:
            if node['nano_cpus'] and node['nano_cpus'] != int(round(desired[cpus_key] * 1e9)):
                add(variables[cpus_key], desired[cpus_key], '%s CPUs on %s' % (node['nano_cpus'] / 1e9, node['name']))
            if node['memory'] and abs(node['memory'] - desired[mem_key] * GIB) > 1024 ** 2:
                add(variables[mem_key], desired[mem_key], '%s GiB on %s' % (round(node['memory'] / GIB, 2), node['name']))
    if controlplanes and compare_ports:
        current = sorted((b for b in controlplanes[0]['port_bindings'] if b['container_port'] not in API_CONTAINER_PORTS),
                         key=lambda b: (b['container_port'], b['host_port']))
        wanted = wanted_bindings(desired['published_ports'], desired['host_ip'])
        if current != wanted:
            add(variables['published_ports'], ', '.join(_binding_text(b) for b in wanted) or 'none',
                'published ports %s' % (', '.join(_binding_text(b) for b in current) or 'none'))
    return problems


def port_plan(published_ports, host_ip, nodes):
    """Split the wanted published ports into those the controlplane publishes, those it lacks, and conflicts.

    Docker publishes ports only when a container is created, so a missing one cannot be added to an existing node;
    it can be reached through a port bridge (see bridge_specs). A conflict is a host port the node already
    publishes to another container port: a bridge could not bind it either.
    Returns {'published': [name], 'missing': {name: binding}, 'conflicts': [message]}.
    """
    controlplanes = [n for n in nodes if n['role'] == 'controlplane']
    current = controlplanes[0]['port_bindings'] if controlplanes else []
    plan = {'published': [], 'missing': {}, 'conflicts': []}
    for name, port in sorted(published_ports.items()):
        wanted = wanted_bindings({name: port}, host_ip)[0]
        if wanted in current:
            plan['published'].append(name)
            continue
        taken = [b for b in current if b['host_port'] == wanted['host_port']]
        if taken:
            plan['conflicts'].append('%s wants %s but %s publishes host port %s as %s' % (
                name, _binding_text(wanted), controlplanes[0]['name'], wanted['host_port'],
                ', '.join(_binding_text(b) for b in taken)))
        else:
            plan['missing'][name] = wanted
    return plan


# Labels of the port bridge containers: which cluster they serve and what each forwards, so a re-run finds them
# and sees whether they still forward what is asked.
BRIDGE_LABEL = 'joelclaw.macmini.port-bridge'
BRIDGE_SPEC_LABEL = 'joelclaw.macmini.port-bridge.spec'


def bridge_specs(cluster, missing, node, network, image):
    """One bridge container per missing port: {container name: spec}.

    The bridge runs socat on the cluster's Docker network and publishes <host_ip>:<host_port> in the VM (where Lima
    forwards it to the Mac's loopback, as it does the node's own published ports); it connects to the node by its
    container name, which Docker's embedded DNS resolves on a user-defined network.
    """
    specs = {}
    for name, binding in sorted(missing.items()):
        node_port, proto = binding['container_port'].split('/')
        target = '%s:%s' % (node, node_port)
        specs['%s-bridge-%s' % (cluster, name)] = {
            'publish': '%s:%s:%s/%s' % (binding['host_ip'], binding['host_port'], node_port, proto),
            'target': target, 'network': network, 'image': image,
            'args': ['%s-LISTEN:%s,fork,reuseaddr' % (proto.upper(), node_port),
                     '%s-CONNECT:%s' % (proto.upper(), target)],
            'spec': '%s %s->%s via %s' % (image, binding['host_port'], target, network),
        }
    return specs


def bridge_run_argv(docker, name, cluster, spec, policy):
    return [docker, 'run', '--detach', '--name', name, '--restart', policy, '--network', spec['network'],
            '--label', '%s=%s' % (BRIDGE_LABEL, cluster), '--label', '%s=%s' % (BRIDGE_SPEC_LABEL, spec['spec']),
            '--publish', spec['publish'], '--entrypoint', 'socat', spec['image']] + spec['args']


def restart_updates(nodes, policy):
    """Node containers whose restart policy is not `policy`.

    talosctl creates them without one (providers/docker/node.go, v1.12.11), so they stay exited when the
    Colima VM restarts; with `unless-stopped` dockerd starts them again itself.
    """
    return [n['name'] for n in nodes if n['restart_policy'] != policy]


def _binding_text(binding):
    return '%s:%s->%s' % (binding['host_ip'] or '0.0.0.0', binding['host_port'], binding['container_port'])


def open_to_all_interfaces(nodes):
    """Bindings with no host IP or 0.0.0.0: with Colima they listen on every macOS interface.

    talosctl gives its API ports (6443, 50000) the --host-ip address like every exposed port (genPortMap fills
    DockerPortsHostIP, which makers/docker.go always sets), so these appear only when asked for.
    """
    return [_binding_text(b) for n in nodes for b in n['port_bindings'] if b['host_ip'] in ('', '0.0.0.0', '::')]


def start_order(nodes):
    """Node containers to `docker start`: controlplane first, so workers find the API."""
    return [n['name'] for n in nodes if n['state'] != 'running']


# ---------------------------------------------------------------- client config files

def context_names(config):
    """Context names of a kubeconfig (list of {name, context}) or talosconfig (mapping name -> context)."""
    contexts = (config or {}).get('contexts') or []
    if isinstance(contexts, dict):
        return sorted(contexts)
    return sorted(c.get('name') for c in contexts if isinstance(c, dict) and c.get('name'))


def _same_or_renamed(base, name):
    """talosctl renames a clashing context to <base>-1, <base>-2, …"""
    return name == base or re.match(re.escape(base) + r'-\d+\Z', name) is not None


def prune_talosconfig(config, context):
    """Drop `context` and its renamed copies; returns (new config, removed names)."""
    config = dict(config or {})
    contexts = dict(config.get('contexts') or {})
    removed = sorted(name for name in contexts if _same_or_renamed(context, name))
    for name in removed:
        del contexts[name]
    config['contexts'] = contexts
    if config.get('context') in removed:
        config['context'] = ''
    return config, removed


def prune_kubeconfig(config, context):
    """Drop `context` (e.g. admin@talos-default) and renamed copies with their cluster and user entries."""
    config = dict(config or {})
    removed, clusters, users = [], set(), set()
    kept = []
    for item in config.get('contexts') or []:
        if isinstance(item, dict) and _same_or_renamed(context, item.get('name', '')):
            removed.append(item['name'])
            clusters.add((item.get('context') or {}).get('cluster'))
            users.add((item.get('context') or {}).get('user'))
        else:
            kept.append(item)
    still_used_clusters = set((c.get('context') or {}).get('cluster') for c in kept if isinstance(c, dict))
    still_used_users = set((c.get('context') or {}).get('user') for c in kept if isinstance(c, dict))
    config['contexts'] = kept
    config['clusters'] = [c for c in config.get('clusters') or []
                          if not (c.get('name') in clusters and c.get('name') not in still_used_clusters)]
    config['users'] = [u for u in config.get('users') or []
                       if not (u.get('name') in users and u.get('name') not in still_used_users)]
    if config.get('current-context') in removed:
        config['current-context'] = ''
    return config, sorted(removed)


def duplicates(names, base):
    """Renamed copies (<base>-N) next to <base>: what re-running create without pruning leaves behind."""
    return sorted(n for n in names if n != base and _same_or_renamed(base, n))


def kube_server(config, context):
    """The server of the cluster entry a kubeconfig context uses, or None."""
    for item in (config or {}).get('contexts') or []:
        if isinstance(item, dict) and item.get('name') == context:
            cluster = (item.get('context') or {}).get('cluster')
            for entry in config.get('clusters') or []:
                if isinstance(entry, dict) and entry.get('name') == cluster:
                    return (entry.get('cluster') or {}).get('server')
    return None


def set_kube_server(config, context, server):
    """Point the cluster entry of `context` at `server`.

    `talosctl kubeconfig` returns what the node serves: the in-cluster endpoint, e.g. https://10.5.0.2:6443
    on the Docker network inside the Colima VM, which macOS cannot reach. Only `cluster create` replaces it
    with the published port (create_dev.go, ForceEndpoint), and `cluster show` prints that one as
    KUBERNETES ENDPOINT (providers/docker/reflect.go), so recovered kubeconfigs are pointed at it here.
    """
    config = dict(config or {})
    cluster = None
    for item in config.get('contexts') or []:
        if isinstance(item, dict) and item.get('name') == context:
            cluster = (item.get('context') or {}).get('cluster')
    clusters = []
    for entry in config.get('clusters') or []:
        if isinstance(entry, dict) and entry.get('name') == cluster:
            entry = dict(entry, cluster=dict(entry.get('cluster') or {}, server=server))
        clusters.append(entry)
    config['clusters'] = clusters
    return config


def parse_client_version(stdout):
    """`talosctl version --client`: the `Tag:` line (pkg/machinery/version/version.go versionTemplate, v1.12.11).

    Returns ((major, minor), tag) or (None, None).
    """
    match = re.search(r'^\s*Tag:\s*(v?(\d+)\.(\d+)\S*)', stdout, re.MULTILINE)
    if not match:
        return None, None
    return (int(match.group(2)), int(match.group(3))), match.group(1)
