// haproxy.router.openshift.io/ip_allowlist: only the listed source addresses/CIDRs reach the
// route — a connection-phase check, so it holds for plain HTTP, HTTP/2, Upgrade and TLS
// passthrough alike (as OpenShift applies it to every termination).

import { BlockList, isIPv4 } from 'node:net';
import { ProxyErrors } from '../errors.ts';
import type { PluginContext } from '../pipeline/context.ts';
import { phaseRunOf } from '../pipeline/phase-run.ts';
import { builtin } from './define.ts';

class IpAllowlist {
  readonly #list: BlockList;
  constructor(entries: readonly string[]) {
    this.#list = buildBlockList(entries);
  }

  connection(ctx: PluginContext): void {
    const ip = ctx.clientAddress;
    if (!this.#list.check(ip, isIPv4(ip) ? 'ipv4' : 'ipv6')) phaseRunOf(ctx).respondError(ProxyErrors.FORBIDDEN);
  }
}

export const ipAllowlistPlugin = builtin<readonly string[]>('ip-allowlist', (entries) => new IpAllowlist(entries));

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
