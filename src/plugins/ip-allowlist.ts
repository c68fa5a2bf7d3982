// haproxy.router.openshift.io/ip_allowlist: only the listed source addresses/CIDRs reach the
// route — a connection-phase check, so it holds for plain HTTP, HTTP/2, Upgrade and TLS
// passthrough alike (as OpenShift applies it to every termination). OpenShift's older name,
// ip_whitelist, is read when ip_allowlist is absent; an empty list means no restriction.

import { BlockList, isIP, isIPv4 } from 'node:net';
import { Type } from 'typebox';
import { invalidAnnotation } from '../annotation-values.ts';
import { ProxyErrors } from '../errors.ts';
import type { PluginContext } from '../pipeline/context.ts';
import { definePlugin } from '../pipeline/define-plugin.ts';
import { phaseRunOf } from '../pipeline/phase-run.ts';
import { builtinPolicy } from './route-policy.ts';

export const IP_ALLOWLIST = 'haproxy.router.openshift.io/ip_allowlist';
/** The name OpenShift used before 4.14; still read when ip_allowlist is absent. */
export const IP_WHITELIST = 'haproxy.router.openshift.io/ip_whitelist';

class IpAllowlist {
  readonly #list: BlockList;
  constructor(entries: readonly string[]) {
    // A Middleware's entries come unchecked by the annotation parser: a wrong one fails its route closed.
    for (const e of entries) if (!isIpOrCidr(e)) throw new TypeError(`ip-allowlist: "${e}" is not an IP address or CIDR`);
    this.#list = buildBlockList(entries);
  }

  connection(ctx: PluginContext): void {
    const ip = ctx.clientAddress;
    if (!this.#list.check(ip, isIPv4(ip) ? 'ipv4' : 'ipv6')) phaseRunOf(ctx).respondError(ProxyErrors.FORBIDDEN);
  }
}

export const ipAllowlistPlugin = definePlugin({
  name: 'ip-allowlist',
  // Addresses and CIDRs (checked exactly when created; the pattern turns most typos away at admission).
  config: Type.Object({ entries: Type.Array(Type.String({ minLength: 1, pattern: '^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$' }), { minItems: 1 }) }, { additionalProperties: false }),
  create: (config) => new IpAllowlist(config.entries),
});

export const ipAllowlistPolicy = builtinPolicy({
  plugin: ipAllowlistPlugin,
  position: 'guard',
  fromRoute({ annotations }) {
    const name = annotations[IP_ALLOWLIST] !== undefined ? IP_ALLOWLIST : IP_WHITELIST;
    const raw = annotations[name];
    if (raw === undefined) return null;
    const entries = raw.split(/\s+/).filter((s) => s !== '');
    if (entries.length === 0) return null; // OpenShift: an empty list means no restriction
    for (const e of entries) if (!isIpOrCidr(e)) invalidAnnotation(name, `"${e}" is not an IP address or CIDR`);
    return { entries };
  },
});

/** An IP address or CIDR (IPv4 or IPv6), as HAProxy's `src` ACL accepts. */
export function isIpOrCidr(text: string): boolean {
  const slash = text.indexOf('/');
  if (slash === -1) return isIP(text) !== 0;
  const family = isIP(text.slice(0, slash));
  const bits = text.slice(slash + 1);
  if (family === 0 || !/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

export function buildBlockList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address, prefix] = entry.split('/');
    const type = isIPv4(address!) ? 'ipv4' : 'ipv6';
    if (prefix === undefined) list.addAddress(address!, type);
    else list.addSubnet(address!, Number(prefix), type);
  }
  return list;
}
