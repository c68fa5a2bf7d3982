// The README's quick start: `npm start` runs `switchyard demo`. Its routes behave as the README
// and the printed commands say. (The demo's backends use their fixed ports 9081/9082; the
// router's ports are ephemeral here.)
import test from 'ava';
import { spawn } from 'node:child_process';
import { CLI } from '../support/router-process.ts';
import { request } from '../support/http-client.ts';

test('switchyard demo serves hello, the 70/30 split and the /api path route', async (t) => {
  const child = spawn(process.execPath, [CLI, 'demo', '--http-port', '0', '--https-port', '0', '--admin-port', '0', '--workers', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => { child.kill('SIGKILL'); });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const listening = await new Promise<{ http: number; admin: number }>((resolve, reject) => {
    let buf = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      const m = /\{[^\n]*"msg":"listening"[^\n]*\}/.exec(buf);
      if (m) resolve(JSON.parse(m[0]) as { http: number; admin: number });
    });
    child.once('exit', (code) => reject(new Error(`demo exited ${code}: ${stderr}`)));
  });
  t.regex(stderr, /curl -s -H 'Host: hello\.demo\.local'/);
  const hello = await request(listening.http, { host: 'hello.demo.local' });
  t.is(hello.json<{ backend: string }>().backend, 'echo-a');
  const counts: Record<string, number> = { 'echo-a': 0, 'echo-b': 0 };
  for (let i = 0; i < 20; i++) counts[(await request(listening.http, { host: 'split.demo.local' })).json<{ backend: string }>().backend]!++;
  t.deepEqual(counts, { 'echo-a': 14, 'echo-b': 6 }, 'smooth weighted round robin: exactly 70/30 over 20 requests');
  t.is((await request(listening.http, { host: 'split.demo.local', path: '/api/x' })).json<{ backend: string }>().backend, 'echo-b');
  t.is((await request(listening.http, { host: 'nowhere.local' })).status, 404);
  t.is((await request(listening.admin, { path: '/debug/routes' })).status, 200);
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.is(code, 0);
});
