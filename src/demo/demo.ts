// `switchyard demo` (what `npm start` runs): two echo backends on loopback, the router on
// 127.0.0.1:8080 serving examples/demo.yaml, and the commands to try. The file is watched:
// edit it and the change is live within a second, no reload.

import { fileURLToPath } from 'node:url';
import { ConfigError, parseConfig } from '../config.ts';
import { startEchoServer } from './echo-server.ts';
import { runRouter } from '../run-router.ts';

export const DEMO_FILE = fileURLToPath(new URL('../../examples/demo.yaml', import.meta.url));
const BACKENDS = [
  { name: 'echo-a', port: 9081 },
  { name: 'echo-b', port: 9082 },
];

export async function runDemo(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const defaults = ['--file', DEMO_FILE, '--bind', '127.0.0.1', '--http-port', '8080', '--https-port', '8443', '--admin-port', '1936'];
  let config;
  try {
    // Options given to `demo` override the demo's defaults.
    config = parseConfig([...defaults, ...argv], { ...env, SWITCHYARD_FILES: undefined });
  } catch (err) {
    if (err instanceof ConfigError) { process.stderr.write(`switchyard demo: ${err.message}\n`); return 2; }
    throw err;
  }
  for (const backend of BACKENDS) {
    try {
      await startEchoServer(backend.name, backend.port);
    } catch (err) {
      process.stderr.write(`switchyard demo: cannot start backend ${backend.name} on 127.0.0.1:${backend.port}: ${(err as Error).message}\n`);
      return 1;
    }
  }
  const http = config.httpPort;
  const admin = config.adminPort;
  process.stderr.write([
    '',
    `switchyard demo: backends echo-a (127.0.0.1:9081) and echo-b (127.0.0.1:9082), routes from ${DEMO_FILE}`,
    'Try:',
    `  curl -s -H 'Host: hello.demo.local' http://127.0.0.1:${http}/            # route "hello" → echo-a`,
    `  for i in $(seq 10); do curl -s -H 'Host: split.demo.local' http://127.0.0.1:${http}/ | grep backend; done   # ~70/30 split a/b`,
    `  curl -s -H 'Host: split.demo.local' http://127.0.0.1:${http}/api/x        # path route → echo-b`,
    `  curl -s -H 'Host: nowhere.local' http://127.0.0.1:${http}/                # 404 no route`,
    `  curl -s http://127.0.0.1:${admin}/debug/routes | head -40                 # the compiled table`,
    `  curl -s http://127.0.0.1:${admin}/metrics | grep switchyard_http`,
    `Edit ${DEMO_FILE}: changes apply within a second. Ctrl-C stops.`,
    '',
  ].join('\n'));
  return runRouter(config);
}
