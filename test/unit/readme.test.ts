// The README's options and error tables are documentation users rely on: keep them in step
// with the option table (src/config.ts) and the error catalogue (src/errors.ts).
import test from 'ava';
import { readFileSync } from 'node:fs';
import { OPTIONS, formatDefault } from '../../src/config.ts';
import { ProxyErrors } from '../../src/errors.ts';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const rows = readme.split('\n').filter((l) => l.startsWith('| `--') || /^\| \d{3} \| `SY_/.test(l));

test('every option is in the README with its environment variable and default', (t) => {
  for (const o of OPTIONS) {
    const row = rows.find((r) => r.startsWith(`| \`${o.flag}\` |`));
    t.truthy(row, `${o.flag} missing from the README options table`);
    if (o.env) t.true(row!.includes(`\`${o.env}\``), `${o.flag}: env ${o.env}`);
    const def = formatDefault(o);
    if (def !== '') t.true(row!.includes(`\`${def}\``), `${o.flag}: default ${def}`);
  }
  const documented = rows.filter((r) => r.startsWith('| `--')).length;
  t.is(documented, OPTIONS.length, 'the README lists options that do not exist');
});

test('every proxy error is in the README with its status and body', (t) => {
  for (const e of Object.values(ProxyErrors)) {
    const row = rows.find((r) => r.includes(`\`${e.code}\``));
    t.truthy(row, `${e.code} missing from the README error table`);
    t.true(row!.startsWith(`| ${e.status} |`), e.code);
    t.true(row!.includes(e.message), e.code);
  }
  t.is(rows.filter((r) => /^\| \d{3} \| `SY_/.test(r)).length, Object.keys(ProxyErrors).length);
});
