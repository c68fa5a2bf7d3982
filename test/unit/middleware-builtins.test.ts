// The router's own plugins a Middleware may name (src/plugins/middleware-builtins.ts): compress,
// and the connection checks of the OpenShift annotations — ip-allowlist and rate-limit — for
// routes without annotations (Gateway API routes) and router-wide --middlewares. Their configs
// are checked at admission (a typo is a clear InvalidMiddleware message); an allowlist entry the
// pattern lets through but that is no address fails at creation (its route fails closed); a
// loaded plugin cannot take their names.
import test from 'ava';
import { PluginRegistry } from '../../src/pipeline/plugin-registry.ts';
import { definePlugin, Type } from '../../src/index.ts';
import { MIDDLEWARE_BUILTINS } from '../../src/plugins/middleware-builtins.ts';
import { ipAllowlistPlugin } from '../../src/plugins/ip-allowlist.ts';
import type { PluginServices } from '../../src/pipeline/types.ts';

const registry = () => new PluginRegistry([], MIDDLEWARE_BUILTINS);

test('a Middleware may name compress, ip-allowlist and rate-limit; they are built-ins', (t) => {
  const r = registry();
  t.deepEqual(r.names().sort(), ['compress', 'ip-allowlist', 'rate-limit']);
  for (const name of r.names()) t.true(r.isBuiltin(name));
  t.deepEqual(r.plugins(), []);
});

test('their configs are checked at admission', (t) => {
  const r = registry();
  t.like(r.validate('ip-allowlist', { entries: ['10.0.0.0/8', '192.168.1.7', '2001:db8::/32'] }), { ok: true });
  t.like(r.validate('ip-allowlist', { entries: ['office'] }), { ok: false });
  t.like(r.validate('ip-allowlist', { entries: [] }), { ok: false });
  t.like(r.validate('rate-limit', { concurrentTcp: 2, rateTcp: null, rateHttp: 100 }), { ok: true });
  t.like(r.validate('rate-limit', { concurrentTcp: 0, rateTcp: null, rateHttp: null }), { ok: false });
});

test('an allowlist entry that only looks like an address fails when created (its route fails closed)', (t) => {
  const services = { route: { key: 'r' }, instanceName: 'x' } as unknown as PluginServices;
  t.throws(() => ipAllowlistPlugin.create({ entries: ['1.2.3.999'] }, services), { message: /"1\.2\.3\.999" is not an IP address or CIDR/ });
  t.notThrows(() => ipAllowlistPlugin.create({ entries: ['1.2.3.4', '::1'] }, services));
});

test('a loaded plugin cannot take a built-in\'s name', (t) => {
  const r = registry();
  const impostor = definePlugin({ name: 'rate-limit', config: Type.Object({}), create: () => ({}) });
  t.throws(() => r.add(impostor), { message: /built-in plugin/ });
});
