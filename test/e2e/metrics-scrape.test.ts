// /metrics on a router with many routes, in one process and merged over two workers: the per-route
// families arrive in several chunks (metrics-exposition.ts writes them a few hundred series at a
// time) and the text is what Prometheus expects: one HELP and TYPE per family, every series once,
// the values right, `promtool check metrics` content.

import test from 'ava';
import net from 'node:net';
import { startRouter, writeTempFile } from '../support/router-process.ts';
import { serviceYaml, routeYaml } from '../support/backends.ts';
import { rawExchange } from '../support/http-client.ts';
import { runCommand } from '../support/run-command.ts';

const ROUTES = 1200;
const PROMTOOL = process.env.PROMTOOL ?? 'promtool';

// Three endpoints per route on ports nobody listens on. No traffic goes there, but a route with
// more than one endpoint gets OpenShift's TCP check (--backend-check-interval, 5 s by default),
// and three refused connects in a row take an endpoint down: 10 s after start-up endpoint_up is
// rightly 0, and a start-up plus scrape that took that long on a loaded machine failed the
// values below. With a 1 h interval the third failed check comes hours after the test.
const CHECKS = ['--backend-check-interval', '1h'];
const file = writeTempFile(Array.from({ length: ROUTES }, (_, i) => [
  serviceYaml(`s${i}`, [20000 + i, 30000 + i, 40000 + i], { namespace: `ns${i % 5}` }),
  routeYaml(`r${i}`, `r${i}.scrape.test`, `s${i}`, { namespace: `ns${i % 5}` }),
].join('\n---\n')).join('\n---\n'));

/** The raw HTTP exchange, the chunked body decoded: its chunks and the text. */
async function scrape(admin: number): Promise<{ head: string; chunks: number; text: string }> {
  const raw = await rawExchange(admin, 'GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n', 30_000);
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, split).toLowerCase();
  let rest = raw.slice(split + 4);
  let chunks = 0;
  let text = '';
  for (;;) {
    const line = rest.indexOf('\r\n');
    const size = parseInt(rest.slice(0, line), 16);
    if (!(size >= 0)) throw new Error(`bad chunk size line: ${JSON.stringify(rest.slice(0, 40))}`);
    if (size === 0) break;
    text += rest.slice(line + 2, line + 2 + size);
    rest = rest.slice(line + 2 + size + 2);
    chunks++;
  }
  return { head, chunks, text: Buffer.from(text, 'latin1').toString('utf8') };
}

/** Families (HELP/TYPE counts) and series (name+labels → value) of an exposition; throws on a stray sample. */
function parse(text: string): { help: Map<string, number>; type: Map<string, number>; series: Map<string, number>; duplicates: string[] } {
  const help = new Map<string, number>();
  const type = new Map<string, number>();
  const series = new Map<string, number>();
  const duplicates: string[] = [];
  let family = '';
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const comment = /^# (HELP|TYPE) (\S+)/.exec(line);
    if (comment) {
      const counts = comment[1] === 'HELP' ? help : type;
      counts.set(comment[2]!, (counts.get(comment[2]!) ?? 0) + 1);
      family = comment[2]!;
      continue;
    }
    const space = line.lastIndexOf(' ');
    const key = line.slice(0, space);
    if (!key.startsWith(family)) throw new Error(`sample outside its family ${family}: ${line}`);
    if (series.has(key)) duplicates.push(key);
    series.set(key, Number(line.slice(space + 1)));
  }
  return { help, type, series, duplicates };
}

for (const workers of [0, 2]) {
  test(`--workers ${workers}: ${ROUTES} routes, /metrics in several chunks, every family and series once, values right`, async (t) => {
    const router = await startRouter({ args: ['--file', file, '--workers', String(workers), ...CHECKS], timeoutMs: 60_000 });
    t.teardown(() => router.stop());
    const { head, chunks, text } = await scrape(router.admin);
    t.regex(head, /^http\/1\.1 200/);
    t.regex(head, /\r\ntransfer-encoding: chunked/);
    t.notRegex(head, /content-length/);
    t.regex(head, /\r\ncontent-type: text\/plain; version=0\.0\.4; charset=utf-8/);
    t.true(chunks >= (4 * ROUTES) / 256, `${chunks} chunks`);
    t.true(text.endsWith('\n') && !text.endsWith('\n\n'));

    const { help, type, series, duplicates } = parse(text);
    t.deepEqual(duplicates, []);
    t.deepEqual([...help.keys()].sort(), [...type.keys()].sort());
    t.deepEqual([...help.values(), ...type.values()].filter((n) => n !== 1), [], 'one HELP and one TYPE per family');
    for (const name of ['switchyard_endpoint_up', 'switchyard_route_endpoints_available', 'switchyard_routes', 'switchyard_ready', 'switchyard_http_requests_total', 'process_resident_memory_bytes']) {
      t.true(help.has(name), name);
    }
    const up = [...series].filter(([key]) => key.startsWith('switchyard_endpoint_up{'));
    const available = [...series].filter(([key]) => key.startsWith('switchyard_route_endpoints_available{'));
    t.is(up.length, 3 * ROUTES);
    t.is(available.length, ROUTES);
    for (const i of [0, 1, 777, ROUTES - 1]) {
      const route = `ns${i % 5}/r${i}`;
      for (const port of [20000 + i, 30000 + i, 40000 + i]) t.is(series.get(`switchyard_endpoint_up{route="${route}",endpoint="127.0.0.1:${port}"}`), 1, `${route} ${port}`);
      t.is(series.get(`switchyard_route_endpoints_available{route="${route}"}`), 3, route);
    }
    t.true(up.every(([, value]) => value === 1) && available.every(([, value]) => value === 3));
    t.is(series.get('switchyard_ready'), 1);
    t.is(series.get('switchyard_routes{state="admitted"}'), ROUTES);

    const check = await runCommand(PROMTOOL, ['check', 'metrics'], { input: text });
    if (check.error) throw new Error(`${PROMTOOL} not installed (apt-get install prometheus)`);
    t.is(check.status, 0, `${check.stdout}${check.stderr}`);
  });
}

test('a scraper that leaves in the middle of /metrics: the router stops writing and serves the next scrape whole', async (t) => {
  const router = await startRouter({ args: ['--file', file, ...CHECKS], timeoutMs: 60_000 });
  t.teardown(() => router.stop());
  await new Promise<void>((resolve, reject) => {
    const socket = net.connect(router.admin, '127.0.0.1', () => socket.write('GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n'));
    socket.once('data', () => { socket.destroy(); resolve(); }); // the first bytes only
    socket.once('error', reject);
  });
  const { chunks, text } = await scrape(router.admin);
  t.true(chunks > 1);
  t.is(parse(text).series.get(`switchyard_route_endpoints_available{route="ns4/r${ROUTES - 1}"}`), 3);
  t.is((await router.stop()).code, 0);
});
