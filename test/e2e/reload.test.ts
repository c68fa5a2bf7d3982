// The file source end to end: edits apply within 1 s without a restart; a broken file or an
// invalid object never takes down what is served.
import test from 'ava';
import { writeFileSync, renameSync } from 'node:fs';
import { startRouter, writeTempFile, type RouterProcess } from '../support/router-process.ts';
import { startBackend, serviceYaml, routeYaml, type Backend } from '../support/backends.ts';
import { request, eventually, metricsText, metricValue } from '../support/http-client.ts';

let a: Backend;
let b: Backend;
test.before(async () => { a = await startBackend('a'); b = await startBackend('b'); });
test.after.always(async () => { await a?.close(); await b?.close(); });

function base(): string {
  return [serviceYaml('a', [a.port]), serviceYaml('b', [b.port]), routeYaml('one', 'one.test', 'a')].join('\n---\n');
}

test('an edit is applied without restarting', async (t) => {
  const file = writeTempFile(base());
  const router = await startRouter({ args: ['--file', file] });
  t.teardown(() => router.stop());
  t.is((await request(router.http, { host: 'one.test' })).headers['x-backend'], 'a');
  t.is((await request(router.http, { host: 'two.test' })).status, 404);
  // How fast is bench/'s business (README: propagation); here: applied, by the same process.
  writeFileSync(file, [base().replace("to: { kind: Service, name: a }", "to: { kind: Service, name: b }"), routeYaml('two', 'two.test', 'b')].join('\n---\n'));
  await eventually(async () => (await request(router.http, { host: 'two.test' })).status === 200, 3000, 25);
  await eventually(async () => (await request(router.http, { host: 'one.test' })).headers['x-backend'] === 'b', 2000, 25);
  // Removing a route from the file removes it from the table.
  writeFileSync(file, base());
  await eventually(async () => (await request(router.http, { host: 'two.test' })).status === 404, 3000, 25);
  t.is(router.child.exitCode, null);
});

test('an editor-style atomic rename is picked up', async (t) => {
  const file = writeTempFile(base());
  const router = await startRouter({ args: ['--file', file] });
  t.teardown(() => router.stop());
  writeFileSync(`${file}.tmp`, [base(), routeYaml('three', 'three.test', 'b')].join('\n---\n'));
  renameSync(`${file}.tmp`, file);
  await eventually(async () => (await request(router.http, { host: 'three.test' })).status === 200, 3000, 25);
  t.pass();
});

test('a file that fails to parse keeps the previous state and counts the error', async (t) => {
  const file = writeTempFile(base());
  const router = await startRouter({ args: ['--file', file] });
  t.teardown(() => router.stop());
  writeFileSync(file, 'apiVersion: v1\nkind: [unclosed\n  - : :\n');
  await router.waitForLog((l) => l.level === 'error' && JSON.stringify(l).includes(file), 3000);
  t.is((await request(router.http, { host: 'one.test' })).status, 200);
  const text = await metricsText(router.admin);
  t.true((metricValue(text, 'switchyard_config_errors_total') ?? 0) >= 1);
});

test('an invalid object is rejected alone; the rest of the file applies', async (t) => {
  const file = writeTempFile(base());
  const router = await startRouter({ args: ['--file', file] });
  t.teardown(() => router.stop());
  writeFileSync(file, [
    base(),
    routeYaml('two', 'two.test', 'b'),
    // spec.to missing: structurally invalid
    'apiVersion: route.openshift.io/v1\nkind: Route\nmetadata: { name: broken }\nspec: { host: broken.test }',
    // invalid host: admitted=false with InvalidHost, visible in /debug/routes
    routeYaml('badhost', 'bad_host!.test', 'a'),
  ].join('\n---\n'));
  await eventually(async () => (await request(router.http, { host: 'two.test' })).status === 200, 3000, 25);
  t.is((await request(router.http, { host: 'one.test' })).status, 200);
  t.is((await request(router.http, { host: 'broken.test' })).status, 404);
  const debug = (await request(router.admin, { path: '/debug/routes' })).json<{ admission: Array<{ key: string; admitted: boolean; reason?: string }> }>();
  const bad = debug.admission.find((r) => r.key === 'Route/default/badhost');
  t.is(bad?.admitted, false);
  t.is(bad?.reason, 'InvalidHost');
  const log = await router.waitForLog((l) => JSON.stringify(l).includes('spec.to'), 2000);
  t.truthy(log);
});

test('a missing file at start-up is a clear error, exit non-zero', async (t) => {
  const router = await startRouter({ args: ['--file', '/nonexistent/routes.yaml'], waitForListening: false });
  const { code } = await router.exited;
  t.not(code, 0);
  t.regex(router.stderr(), /nonexistent\/routes\.yaml/);
});

test('a YAML alias bomb written to the watched file is refused at once; the router keeps serving the previous objects', async (t) => {
  const file = writeTempFile(base());
  const router = await startRouter({ args: ['--file', file] });
  t.teardown(() => router.stop());
  const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (const [i, n] of [...'bcdefghi'].entries()) lines.push(`${n}: &${n} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(',')}]`);
  writeFileSync(file, `apiVersion: v1\nkind: Service\nmetadata: { name: bomb }\nspec:\n${lines.map((l) => `  ${l}`).join('\n')}\n`);
  const logged = await router.waitForLog((l) => l.msg === 'cannot parse file; keeping its previous objects');
  t.regex(String(logged.error), /expands to more than/);
  t.is((await request(router.http, { host: 'one.test' })).headers['x-backend'], 'a');
});
