#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 joelclaw.macmini contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: caddy_site_plan
short_description: Validate and normalise the sites Caddy serves in front of Convex
version_added: 0.1.0
description:
  - Checks a list of Caddy site definitions before anything on the host changes, and returns
    them normalised for the Caddyfile template of the P(joelclaw.macmini.caddy_tailscale#role) role.
  - Reports every problem at once. Each message names the site, the field, the bad value,
    what was expected and what to do.
  - C(tls=tailscale) is accepted only for C(*.ts.net) names, because Tailscale issues certificates
    only for the node's MagicDNS name and Caddy asks tailscaled for no other name.
  - Each site has a reach (who can connect, and through what). C(funnel) sites are published by
    Tailscale Funnel on the node's C(*.ts.net) name (ports 443, 8443 or 10000 only) and served by Caddy in
    plain HTTP on a loopback port; C(public) sites are served by Caddy on all interfaces (a custom domain
    with C(tls=acme)); C(tailnet) sites listen on loopback and O(tailnet_addresses) only, and answer 403 outside the
    tailnet ranges and loopback.
  - Funnel sites' loopback listeners trust loopback as a proxy (Caddy C(trusted_proxies)), so the visitor's
    C(X-Forwarded-For) and C(X-Forwarded-Proto) that tailscaled sets reach the upstream instead of being replaced.
  - Sites named in O(private_sites) (the dashboard) must keep C(reach=tailnet).
  - Returns the plan for M(joelclaw.macmini.tailscale_serve) (what tailscaled serves and funnels).
  - Makes no changes; safe in check mode.
author:
  - Joel Hooks (@joelhooks)
options:
  sites:
    description: The sites to serve, one per public endpoint.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Short identifier, unique among the sites (for example C(api)).
        type: str
        required: true
      host:
        description: Bare DNS name clients use, without scheme or port.
        type: str
        required: true
      port:
        description: TCP port Caddy listens on for this site.
        type: int
        default: 443
      tls:
        description:
          - Where the certificate comes from.
          - C(tailscale) asks tailscaled (only C(*.ts.net) names).
          - C(acme) uses Caddy's automatic HTTPS with a public CA (the host must be public and reach ports 80/443).
          - C(internal) uses Caddy's local CA (tests, or clients that trust that CA).
        type: str
        required: true
        choices: [tailscale, acme, internal]
      upstream:
        description: C(host:port) to reverse-proxy to.
        type: str
        required: true
      path_prefix:
        description: Prefix added to every request path before proxying (for example C(/http)).
        type: str
        default: ""
      tailnet_only:
        description:
          - Refuse (403) clients outside the tailnet ranges and loopback. Same as O(sites[].reach=tailnet),
            which is preferred; true together with another reach is an error.
        type: bool
        default: false
      reach:
        description:
          - Who can reach the site. C(funnel) is the internet through Tailscale Funnel (needs a C(*.ts.net)
            host, C(tls=tailscale), a port in 443, 8443, 10000 and O(sites[].local_port)).
          - C(public) is whoever reaches this machine on O(sites[].port) (custom domain with C(tls=acme)).
          - C(tailnet) is tailnet devices and loopback only.
          - Default C(tailnet) when O(sites[].tailnet_only) is true, else C(public).
        type: str
        choices: [funnel, public, tailnet]
      local_port:
        description:
          - For C(reach=funnel) only, the loopback port of the plain-HTTP Caddy listener tailscaled proxies to.
        type: int
      basic_auth_user:
        description: User name for HTTP basic authentication; empty disables it.
        type: str
        default: ""
      basic_auth_password:
        description: Password for O(sites[].basic_auth_user). Checked here, never returned.
        type: str
        default: ""
      extra_directives:
        description: Extra Caddyfile lines placed in the site's route, for advanced use.
        type: list
        elements: str
        default: []
  private_sites:
    description:
      - Names of sites that must never be reachable from the internet; they need O(sites[].reach=tailnet).
    type: list
    elements: str
    default: [dashboard]
  tailnet_addresses:
    description:
      - This machine's Tailscale addresses (as C(tailscale ip) prints them). Sites with C(reach=tailnet) listen on
        loopback and these addresses only, never on every interface. Each must lie inside O(tailnet_ranges).
      - Empty means loopback only.
      - Caddy fails to start when a bind address is not assigned yet (cannot assign requested address); see the role
        README for how the service manager restarts it once Tailscale is up.
    type: list
    elements: str
    default: []
  admin_address:
    description:
      - Caddy's admin API address, checked to be a C(unix/) socket, or a loopback TCP address when O(admin_tcp=true).
        Empty means the role's private unix socket. Not checked when omitted.
      - C(off) is refused, because the role reloads Caddy through this API (C(caddy reload)).
    type: str
  acme_email:
    description:
      - The ACME account e-mail, checked to be a plain address (it is written into the Caddyfile). Not checked when
        omitted.
    type: str
  stream_close_delay:
    description:
      - How long proxied WebSockets stay open across a reload, checked to be a Caddy duration (C(5m), C(90s), C(1h30m),
        C(1d)). Not checked when omitted.
    type: str
  admin_tcp:
    description:
      - Accept a loopback TCP O(admin_address), with a warning. Any local process (other users; on the Mac, pods
        through Lima's host address) can then replace Caddy's whole config.
    type: bool
    default: false
  tailnet_ranges:
    description:
      - Client ranges that count as the tailnet for O(sites[].tailnet_only). Loopback is always added.
    type: list
    elements: str
    default: ["100.64.0.0/10", "fd7a:115c:a1e0::/48"]
extends_documentation_fragment:
  - joelclaw.macmini.attributes
  - joelclaw.macmini.attributes.read_only
  - joelclaw.macmini.attributes.controller
notes:
  - Runs no commands and touches no files.
"""

EXAMPLES = r"""
- name: Validate the Caddy sites before changing anything.
  joelclaw.macmini.caddy_site_plan:
    sites:
      - name: api
        host: macmini.example-tailnet.ts.net
        port: 443
        tls: tailscale
        upstream: 127.0.0.1:3210
      - name: dashboard
        host: macmini.example-tailnet.ts.net
        port: 8444
        tls: tailscale
        upstream: 127.0.0.1:6791
        reach: tailnet
  register: caddy_site_plan

- name: Publish the API through Funnel, dashboard on the tailnet only.
  joelclaw.macmini.caddy_site_plan:
    sites:
      - name: api
        host: macmini.example-tailnet.ts.net
        port: 443
        tls: tailscale
        reach: funnel
        local_port: 8780
        upstream: 127.0.0.1:3210
      - name: dashboard
        host: macmini.example-tailnet.ts.net
        port: 8444
        tls: tailscale
        reach: tailnet
        upstream: 127.0.0.1:6791
    admin_address: unix//opt/homebrew/var/lib/caddy-tailscale/admin.sock
  register: caddy_site_plan
"""

RETURN = r"""
sites:
  description: The sites, normalised; passwords are dropped.
  returned: success
  type: list
  elements: dict
  sample:
    - name: api
      host: macmini.example-tailnet.ts.net
      port: 443
      address: https://macmini.example-tailnet.ts.net:443
      tls: tailscale
      upstream: 127.0.0.1:3210
      path_prefix: ""
      tailnet_only: false
      reach: tailnet
      local_port: null
      bind: ["127.0.0.1", "::1", "100.101.102.103", "fd7a:115c:a1e0::1234:5678"]
      listen: ""
      trusted_proxies: []
      basic_auth_user: ""
      extra_directives: []
tailnet_ranges:
  description: Client ranges allowed on tailnet-only sites, loopback included.
  returned: success
  type: list
  elements: str
  sample: ["100.64.0.0/10", "fd7a:115c:a1e0::/48", "127.0.0.0/8", "::1/128"]
tailnet_addresses:
  description: The Tailscale addresses the tailnet-only sites listen on besides loopback.
  returned: success
  type: list
  elements: str
  sample: ["100.101.102.103", "fd7a:115c:a1e0::1234:5678"]
tls_modes:
  description: The distinct TLS modes Caddy itself uses (Funnel sites excluded, tailscaled does their TLS).
  returned: success
  type: list
  elements: str
  sample: [tailscale]
serve_host:
  description:
    - The C(*.ts.net) name Funnel publishes; without funnel sites the first C(*.ts.net) site host (so stale
      funnels can be cleared); empty when no site uses a C(*.ts.net) name.
  returned: success
  type: str
  sample: macmini.example-tailnet.ts.net
serve:
  description: What tailscaled must serve, for M(joelclaw.macmini.tailscale_serve).
  returned: success
  type: list
  elements: dict
  sample:
    - {port: 443, target: "http://127.0.0.1:8780", funnel: true, site: api}
managed_ports:
  description:
    - Ports besides RV(serve)'s that must carry no foreign serve handler, for M(joelclaw.macmini.tailscale_serve)
      (the ports Caddy itself serves on a C(*.ts.net) name).
  returned: success
  type: list
  elements: int
  sample: [8444]
reach_table:
  description: One row per site, who can reach it and through what.
  returned: success
  type: list
  elements: dict
  sample:
    - site: api
      url: https://macmini.example-tailnet.ts.net
      reach: funnel
      who: anyone on the internet
      via: Tailscale Funnel (tailscaled, TLS) -> Caddy http://127.0.0.1:8780 -> 127.0.0.1:3210
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.joelclaw.macmini.plugins.module_utils._caddy_sites import ARGUMENT_SPEC, SiteError, plan_sites


def main():
    # Runs on the host only when the action plugin of the same name is bypassed; the action plugin
    # (plugins/action/caddy_site_plan.py) plans on the controller with the same code and options.
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        planned, warnings = plan_sites(module.params)
    except SiteError as exc:
        module.fail_json(msg="Invalid Caddy sites: " + " | ".join(exc.problems), problems=exc.problems)
    for warning in warnings:
        module.warn(warning)
    module.exit_json(changed=False, **planned)


if __name__ == "__main__":
    main()
