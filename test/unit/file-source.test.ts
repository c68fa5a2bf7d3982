import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, type Logger } from '../../src/log.ts';
import { Metrics } from '../../src/metrics.ts';
import type { Route } from '../../src/objects/types.ts';
import { ObjectStore, type StoreChange } from '../../src/store.ts';
import { FileSource } from '../../src/sources/file.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/files/', import.meta.url));
const FILE_SOURCE = fileURLToPath(new URL('../../src/sources/file.ts', import.meta.url));

// ---- helpers ---------------------------------------------------------------------------------

/** A temporary directory holding copies of the named fixtures; removed after the test. */
async function workspace(t: ExecutionContext, ...fixtures: string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-file-source-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const name of fixtures) await copyFile(join(FIXTURES, name), join(dir, name));
  return dir;
}

interface LogLine { level: string; msg: string; [field: string]: unknown }

function captureLogger(): { logger: Logger; readonly lines: LogLine[]; text: () => string } {
  const raw: string[] = [];
  const logger = createLogger('debug', { write: (s: string) => { raw.push(s); } });
  return {
    logger,
    get lines() { return raw.map((s) => JSON.parse(s) as LogLine); },
    text: () => raw.join(''),
  };
}

interface Harness {
  store: ObjectStore;
  source: FileSource;
  metrics: Metrics;
  logs: ReturnType<typeof captureLogger>;
  changes: StoreChange[];
  configErrors: () => Promise<number>;
}

function harness(t: ExecutionContext, paths: string[], options: { debounceMs?: number; pollMs?: number } = { debounceMs: 30 }): Harness {
  const store = new ObjectStore();
  const metrics = new Metrics({ defaultMetrics: false });
  const logs = captureLogger();
  const source = new FileSource(paths, store, { logger: logs.logger, metrics, ...options });
  t.teardown(() => source.stop());
  const changes: StoreChange[] = [];
  store.subscribe((batch) => changes.push(...batch));
  const configErrors = async () => (await metrics.configErrors.get()).values.find((v) => v.labels.source === 'file')?.value ?? 0;
  return { store, source, metrics, logs, changes, configErrors };
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));


async function edit(path: string, change: (text: string) => string): Promise<void> {
  const text = await readFile(path, 'utf8');
  const next = change(text);
  if (next === text) throw new Error('edit changed nothing');
  await writeFile(path, next);
}

// ---- initial load ----------------------------------------------------------------------------

test('start() loads every document into the store in file order and skips unknown kinds', async (t) => {
  const dir = await workspace(t, 'shop.yaml');
  const h = harness(t, [join(dir, 'shop.yaml')]);
  await h.source.start();
  t.deepEqual(h.changes.map((c) => `${c.kind} ${c.key}`), [
    'Namespace shop', 'Service shop/web', 'EndpointSlice shop/web-1', 'Route shop/web', 'Route shop/api',
  ], 'delivered by start() itself (store flushed), in document order, ServiceAccount skipped');
  t.is(h.store.get('Route', 'shop/api')?.spec.path, '/v1');
  t.is([...h.store.slicesOf('shop/web')].length, 1);
  const [web, api] = [h.store.get('Route', 'shop/web')!, h.store.get('Route', 'shop/api')!];
  t.true(h.store.compareAge('Route', web, api) < 0, 'earlier in the file is older');
  t.is(await h.configErrors(), 0);
  t.true(h.logs.lines.some((l) => l.level === 'debug' && l.kind === 'ServiceAccount'), 'the skipped kind is logged at debug');
});

test('JSON documents, List items and typed List items all load; stringData becomes data', async (t) => {
  const dir = await workspace(t, 'mixed.yaml', 'routes.json');
  const h = harness(t, [join(dir, 'mixed.yaml'), join(dir, 'routes.json')]);
  await h.source.start();
  t.deepEqual([...h.store.keys('Service')], ['default/json-svc']);
  t.deepEqual([...h.store.keys('Route')], ['default/listed-a', 'default/typed-b', 'shop/json-route']);
  t.is(h.store.get('Route', 'default/typed-b')?.apiVersion, 'route.openshift.io/v1');
  const secret = h.store.get('Secret', 'default/listed-secret')!;
  t.is(secret.stringData, undefined);
  t.regex(Buffer.from(secret.data!['tls.key']!, 'base64').toString(), /BEGIN PRIVATE KEY/);
  t.false(h.logs.text().includes('supersecret'), 'secret contents never reach the log');
});

test('start() rejects naming a missing file', async (t) => {
  const dir = await workspace(t, 'shop.yaml');
  const h = harness(t, [join(dir, 'shop.yaml'), join(dir, 'nope.yaml')]);
  await t.throwsAsync(h.source.start(), { message: /nope\.yaml: file not found/ });
});

test('start() rejects naming an unparsable file, with the position', async (t) => {
  const dir = await workspace(t);
  const path = join(dir, 'broken.yaml');
  await writeFile(path, 'apiVersion: v1\nkind: Service\nmetadata: {name: a\n');
  const h = harness(t, [path]);
  await t.throwsAsync(h.source.start(), { message: /broken\.yaml: .*line \d+, column \d+/ });
  t.is(await h.configErrors(), 1);
});

test('an invalid document is skipped at start, logged with its index and field, and counted', async (t) => {
  const dir = await workspace(t, 'invalid-document.yaml');
  const path = join(dir, 'invalid-document.yaml');
  const h = harness(t, [path]);
  await h.source.start();
  t.true(h.store.has('Route', 'default/good-a'));
  t.false(h.store.has('Route', 'default/bad-b'));
  t.true(h.store.has('Service', 'default/web'));
  t.is(await h.configErrors(), 1);
  const line = h.logs.lines.find((l) => l.level === 'error');
  t.like(line, { file: path, document: 1, kind: 'Route', name: 'bad-b', field: 'spec.to.weight' });
});

// ---- watching --------------------------------------------------------------------------------

test('an edit produces store changes only for the objects that changed', async (t) => {
  const dir = await workspace(t, 'shop.yaml');
  const path = join(dir, 'shop.yaml');
  const h = harness(t, [path]);
  await h.source.start();
  h.changes.length = 0;
  await edit(path, (text) => text.replace('host: www.shop.example.com', 'host: shop.example.com'));
  await waitFor('the route change', () => h.changes.length > 0);
  await h.source.settled();
  t.deepEqual(h.changes.map((c) => `${c.kind} ${c.key}`), ['Route shop/web']);
  t.is((h.changes[0]!.old as Route | undefined)?.spec.host, 'www.shop.example.com');
  t.is(h.store.get('Route', 'shop/web')?.spec.host, 'shop.example.com');
});

// An edit in place (same documents, one changed, still naming the same object) is patched in
// without a pass over the whole file; these check that it concludes what the full pass would.

function routeDoc(name: string, host: string): string {
  return `apiVersion: route.openshift.io/v1\nkind: Route\nmetadata: {name: ${name}, namespace: shop}\nspec: {host: ${host}, to: {kind: Service, name: web}}\n`;
}

test('edits in place, one after another, each change exactly the object edited', async (t) => {
  const dir = await workspace(t);
  const path = join(dir, 'routes.yaml');
  await writeFile(path, ['a', 'b', 'c'].map((n) => routeDoc(n, `${n}.v1.example.com`)).join('---\n'));
  const h = harness(t, [path]);
  await h.source.start();
  for (const [i, name] of ['b', 'a', 'b', 'c'].entries()) {
    h.changes.length = 0;
    await edit(path, (text) => text.replace(new RegExp(`host: ${name}\\.v\\d+`), `host: ${name}.v${i + 2}`));
    await waitFor(`the edit of ${name}`, () => h.changes.length > 0);
    await h.source.settled();
    t.deepEqual(h.changes.map((c) => `${c.kind} ${c.key}`), [`Route shop/${name}`]);
    t.is(h.store.get('Route', `shop/${name}`)?.spec.host, `${name}.v${i + 2}.example.com`);
  }
  t.deepEqual([...h.store.keys('Route')].sort(), ['shop/a', 'shop/b', 'shop/c']);
});

test('an object named twice: editing the earlier copy keeps serving the later one', async (t) => {
  const dir = await workspace(t);
  const path = join(dir, 'routes.yaml');
  await writeFile(path, [routeDoc('a', 'first.example.com'), routeDoc('other', 'other.example.com'), routeDoc('a', 'second.example.com')].join('---\n'));
  const h = harness(t, [path]);
  await h.source.start();
  t.is(h.store.get('Route', 'shop/a')?.spec.host, 'second.example.com', 'the later document wins');
  await edit(path, (text) => text.replace('first.example.com', 'first-edited.example.com').replace('other.example.com', 'other-edited.example.com'));
  await waitFor('the other route edited', () => h.store.get('Route', 'shop/other')?.spec.host === 'other-edited.example.com');
  await h.source.settled();
  t.is(h.store.get('Route', 'shop/a')?.spec.host, 'second.example.com', 'still the later document');
  t.true(h.logs.lines.filter((l) => l.msg.includes('appears twice')).length >= 2, 'the duplicate is reported again on the reload');
});

test('a document renamed in place: the old object goes, the new one comes', async (t) => {
  const dir = await workspace(t);
  const path = join(dir, 'routes.yaml');
  await writeFile(path, [routeDoc('a', 'a.example.com'), routeDoc('b', 'b.example.com')].join('---\n'));
  const h = harness(t, [path]);
  await h.source.start();
  h.changes.length = 0;
  await edit(path, (text) => text.replace('{name: b,', '{name: renamed,'));
  await waitFor('two changes', () => h.changes.length >= 2);
  await h.source.settled();
  t.deepEqual(h.changes.map((c) => `${c.key} ${c.current ? 'upsert' : 'remove'}`).sort(), ['shop/b remove', 'shop/renamed upsert']);
  t.deepEqual([...h.store.keys('Route')].sort(), ['shop/a', 'shop/renamed']);
});

test('a document removed from the file is removed from the store; a new one is added', async (t) => {
  const dir = await workspace(t, 'shop.yaml');
  const path = join(dir, 'shop.yaml');
  const h = harness(t, [path]);
  await h.source.start();
  h.changes.length = 0;
  await edit(path, (text) => text
    .replace(/apiVersion: route.openshift.io\/v1\nkind: Route\nmetadata: \{name: api[^]*?---\n/, '')
    .concat('apiVersion: v1\nkind: Service\nmetadata: {name: api, namespace: shop}\nspec: {ports: [{port: 81}]}\n'));
  await waitFor('two changes', () => h.changes.length >= 2);
  await h.source.settled();
  t.deepEqual(h.changes.map((c) => `${c.kind} ${c.key} ${c.current ? 'upsert' : 'remove'}`).sort(), [
    'Route shop/api remove', 'Service shop/api upsert',
  ]);
  t.false(h.store.has('Route', 'shop/api'));
});

test('a parse error keeps the previous objects, logs the position and counts the error', async (t) => {
  const dir = await workspace(t, 'shop.yaml');
  const path = join(dir, 'shop.yaml');
  const h = harness(t, [path]);
  await h.source.start();
  h.changes.length = 0;
  await writeFile(path, 'apiVersion: v1\nkind: Service\nmetadata: {name: a\n  bad: [\n');
  await waitFor('the error to be counted', () => h.logs.lines.some((l) => l.level === 'error'));
  t.is(await h.configErrors(), 1);
  const line = h.logs.lines.find((l) => l.level === 'error')!;
  t.is(line.file, path);
  t.is(typeof line.line, 'number');
  t.is(typeof line.column, 'number');
  await h.source.settled();
  t.deepEqual(h.changes, [], 'nothing removed');
  t.is(h.store.size('Route'), 2);
  t.is(await h.configErrors(), 1, 'the same bad text is reported once, not on every poll');

  // Fixing the file applies the diff against the last good state.
  await writeFile(path, (await readFile(join(FIXTURES, 'shop.yaml'), 'utf8')).replace('name: api', 'name: api2'));
  await waitFor('the fixed file', () => h.store.has('Route', 'shop/api2'));
  t.false(h.store.has('Route', 'shop/api'));
});

test('one invalid document in an edit keeps its previous version; the others apply', async (t) => {
  const dir = await workspace(t, 'shop.yaml');
  const path = join(dir, 'shop.yaml');
  const h = harness(t, [path]);
  await h.source.start();
  h.changes.length = 0;
  await edit(path, (text) => text
    .replace('to: {kind: Service, name: web, weight: 100}', 'to: {kind: Service, name: web, weight: 1000}')
    .replace('host: www.shop.example.com', 'host: www2.shop.example.com'));
  await waitFor('the valid change', () => h.changes.length > 0);
  await h.source.settled();
  t.deepEqual(h.changes.map((c) => `${c.kind} ${c.key}`), ['Route shop/web']);
  t.is(h.store.get('Route', 'shop/api')?.spec.to.weight, 100, 'the last good version stays');
  t.is(await h.configErrors(), 1);
  t.like(h.logs.lines.find((l) => l.level === 'error'), { file: path, document: 4, kind: 'Route', name: 'api', field: 'spec.to.weight' });
});

test('an atomic-rename edit is picked up by the file watch, not by polling', async (t) => {
  const dir = await workspace(t, 'shop.yaml');
  const path = join(dir, 'shop.yaml');
  // Default debounce; polling out of the way (once a minute), so only the watch can see the
  // renames. How fast a change lands is a timing target: bench/scale.ts (propagation), not here.
  const h = harness(t, [path], { pollMs: 60_000 });
  await h.source.start();
  const text = (await readFile(path, 'utf8')).replace('path: /v1', 'path: /v2');
  await writeFile(join(dir, '.shop.yaml.tmp'), text);
  await rename(join(dir, '.shop.yaml.tmp'), path);
  await waitFor('the renamed file', () => h.store.get('Route', 'shop/api')?.spec.path === '/v2', 10_000);
  // And the replacement file is itself watched: a second rename is seen too.
  await writeFile(join(dir, '.shop.yaml.tmp'), text.replace('path: /v2', 'path: /v3'));
  await rename(join(dir, '.shop.yaml.tmp'), path);
  await waitFor('the second rename', () => h.store.get('Route', 'shop/api')?.spec.path === '/v3', 10_000);
  t.pass();
});

test('a deleted file keeps its objects; when it comes back it is diffed as usual', async (t) => {
  const dir = await workspace(t, 'shop.yaml');
  const path = join(dir, 'shop.yaml');
  const original = await readFile(path, 'utf8');
  const h = harness(t, [path]);
  await h.source.start();
  h.changes.length = 0;
  await unlink(path);
  await waitFor('the warning', () => h.logs.lines.some((l) => l.level === 'warn' && l.file === path));
  await h.source.settled();
  t.deepEqual(h.changes, []);
  t.is(h.store.size('Route'), 2);
  t.is(h.logs.lines.filter((l) => l.level === 'warn').length, 1, 'warned once, not on every poll');
  await writeFile(path, original.replace(/apiVersion: route.openshift.io\/v1\nkind: Route\nmetadata: \{name: api[^]*?---\n/, ''));
  await waitFor('the returned file', () => !h.store.has('Route', 'shop/api'));
  t.deepEqual(h.changes.map((c) => `${c.kind} ${c.key}`), ['Route shop/api']);
});

test('the same object in two files: the later file wins, and the earlier comes back when it drops it', async (t) => {
  const dir = await workspace(t);
  const first = join(dir, 'first.yaml');
  const second = join(dir, 'second.yaml');
  const routeDoc = (host: string) => `apiVersion: route.openshift.io/v1\nkind: Route\nmetadata: {name: web}\nspec: {host: ${host}, to: {name: web}}\n`;
  await writeFile(first, routeDoc('first.example.com'));
  await writeFile(second, routeDoc('second.example.com'));
  const h = harness(t, [first, second]);
  await h.source.start();
  t.is(h.store.get('Route', 'default/web')?.spec.host, 'second.example.com');

  await writeFile(first, routeDoc('first-edited.example.com'));
  await h.source.settled();
  t.is(h.store.get('Route', 'default/web')?.spec.host, 'second.example.com', 'an edit in the earlier file does not override');

  await writeFile(second, 'apiVersion: v1\nkind: Namespace\nmetadata: {name: other}\n');
  await waitFor('the fallback', () => h.store.get('Route', 'default/web')?.spec.host === 'first-edited.example.com');
  t.true(h.store.has('Namespace', 'other'));
});

test('stop() closes watchers and timers so the process can exit', async (t) => {
  const dir = await workspace(t, 'shop.yaml');
  const script = (stop: boolean) => `
    import { FileSource } from ${JSON.stringify(FILE_SOURCE)};
    import { ObjectStore } from ${JSON.stringify(fileURLToPath(new URL('../../src/store.ts', import.meta.url)))};
    import { silentLogger } from ${JSON.stringify(fileURLToPath(new URL('../../src/log.ts', import.meta.url)))};
    const source = new FileSource([${JSON.stringify(join(dir, 'shop.yaml'))}], new ObjectStore(), { logger: silentLogger });
    await source.start();
    console.log('started');
    // Without stop(): list what keeps the process alive, then leave (waiting for it not to
    // exit would be a sleep).
    ${stop ? 'source.stop();' : 'console.log(JSON.stringify(process.getActiveResourcesInfo())); process.exit(0);'}
  `;
  const run = (stop: boolean) => new Promise<{ exited: boolean; output: string }>((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script(stop)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => { output += d; });
    child.stderr.on('data', (d) => { output += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); }, 10_000); // a bound: fails the test
    // 'close' rather than 'exit': it comes after the output has been read to the end.
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ exited: signal === null && code === 0, output }); });
  });
  const [stopped, running] = await Promise.all([run(true), run(false)]);
  t.true(stopped.exited, stopped.output);
  t.regex(stopped.output, /started/);
  t.regex(running.output, /started/);
  t.regex(running.output, /"FSEventWrap"/, 'without stop() the file watchers keep the process alive (so this test can fail)');
});

test('a ConfigMap volume update (the ..data symlink swapped) is picked up', async (t) => {
  const dir = await workspace(t);
  const original = await readFile(join(FIXTURES, 'shop.yaml'), 'utf8');
  await mkdir(join(dir, '..v1'));
  await writeFile(join(dir, '..v1', 'shop.yaml'), original);
  await symlink('..v1', join(dir, '..data'));
  await symlink(join('..data', 'shop.yaml'), join(dir, 'shop.yaml'));
  const h = harness(t, [join(dir, 'shop.yaml')]);
  await h.source.start();
  t.is(h.store.size('Route'), 2);
  // Kubernetes' atomic writer: new timestamped directory, new link, renamed over ..data.
  await mkdir(join(dir, '..v2'));
  await writeFile(join(dir, '..v2', 'shop.yaml'), original.replace('path: /v1', 'path: /v9'));
  await symlink('..v2', join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  await waitFor('the swapped volume', () => h.store.get('Route', 'shop/api')?.spec.path === '/v9');
  t.pass();
});

test('a document that loses its name keeps the object that stood at its position', async (t) => {
  const dir = await workspace(t, 'shop.yaml');
  const path = join(dir, 'shop.yaml');
  const h = harness(t, [path]);
  await h.source.start();
  h.changes.length = 0;
  await edit(path, (text) => text.replace('metadata: {name: api, namespace: shop}', 'metadata: {namespace: shop}'));
  await waitFor('the error', () => h.logs.lines.some((l) => l.level === 'error'));
  await h.source.settled();
  t.deepEqual(h.changes, []);
  t.true(h.store.has('Route', 'shop/api'));
  t.like(h.logs.lines.find((l) => l.level === 'error'), { document: 4, kind: 'Route', field: 'metadata.name' });
});

test('documents that are not objects, and Lists without an item array, are invalid documents', async (t) => {
  const dir = await workspace(t);
  const path = join(dir, 'odd.yaml');
  await writeFile(path, [
    'just a string',
    'apiVersion: v1\nkind: List\nitems: {not: a list}',
    'apiVersion: v1\nkind: Namespace\nmetadata: {name: fine}',
  ].join('\n---\n'));
  const h = harness(t, [path]);
  await h.source.start();
  t.deepEqual([...h.store.keys('Namespace')], ['fine']);
  t.is(await h.configErrors(), 2);
  t.deepEqual(h.logs.lines.filter((l) => l.level === 'error').map((l) => [l.document, l.error]), [
    [0, 'document: must be an object with apiVersion and kind'],
    [1, 'items: required array'],
  ]);
});
