import test from 'ava';
import { promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { renderTemplate, renderTemplateFile, writeFileAtomic } from '../../src/autoport/template-render.ts';
import { UnknownTemplateVariableError } from '../../src/autoport/autoport-errors.ts';

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'autoport-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

test('both syntaxes are replaced, spaces allowed inside {{ }}', (t) => {
  const vars = { AUTO_PORT0: '20001', AUTO_PORT1: '20002', APP_NAME: 'shop' };
  t.is(
    renderTemplate('listen ${AUTO_PORT0};\nadmin {{AUTO_PORT1}} {{ AUTO_PORT0 }}\nname=${APP_NAME}\n', vars, 'x.tmpl'),
    'listen 20001;\nadmin 20002 20001\nname=shop\n',
  );
});

test('text that is not a plain reference passes through', (t) => {
  const text = 'proxy_set_header Host $host; ${VAR:-default} {{ .Values.port }} $AUTO_PORT0 {AUTO_PORT0} ${} {{}}';
  t.is(renderTemplate(text, { AUTO_PORT0: '1' }, 'x'), text);
});

test('an empty value is a value, not a missing variable', (t) => {
  t.is(renderTemplate('a${EMPTY}b', { EMPTY: '' }, 'x'), 'ab');
});

test('inherited object properties are not variables', (t) => {
  t.throws(() => renderTemplate('${constructor}', {}, 'x'), { instanceOf: UnknownTemplateVariableError, message: /constructor/ });
});

test('an unknown variable is an error naming it and the file; each name once', (t) => {
  const err = t.throws(() => renderTemplate('${AUTO_PORT0} ${NOPE} {{ NOPE }} {{ALSO_NOPE}}', { AUTO_PORT0: '1' }, '/etc/app/app.conf.tmpl'), { instanceOf: UnknownTemplateVariableError });
  t.is(err!.message, '/etc/app/app.conf.tmpl: unknown variables NOPE, ALSO_NOPE');
  t.deepEqual(err!.variables, ['NOPE', 'ALSO_NOPE']);
  t.is(err!.file, '/etc/app/app.conf.tmpl');
  t.is(err!.exitCode, 1);
});

test('renderTemplateFile writes the output with the template\'s mode', async (t) => {
  const dir = await tempDir(t);
  const input = path.join(dir, 'app.tmpl');
  const output = path.join(dir, 'app.conf');
  await fs.writeFile(input, 'port={{AUTO_PORT0}}\n');
  await fs.chmod(input, 0o751);
  await renderTemplateFile({ input, output }, { AUTO_PORT0: '20042' });
  t.is(await fs.readFile(output, 'utf8'), 'port=20042\n');
  t.is((await fs.stat(output)).mode & 0o7777, 0o751);
  t.deepEqual((await fs.readdir(dir)).sort(), ['app.conf', 'app.tmpl'], 'no temporary file left behind');
});

test('an unknown variable in a file leaves the existing output untouched', async (t) => {
  const dir = await tempDir(t);
  const input = path.join(dir, 'app.tmpl');
  const output = path.join(dir, 'app.conf');
  await fs.writeFile(input, 'port=${MISSING_PORT}\n');
  await fs.writeFile(output, 'old\n');
  await t.throwsAsync(renderTemplateFile({ input, output }, {}), { instanceOf: UnknownTemplateVariableError, message: `${input}: unknown variable MISSING_PORT` });
  t.is(await fs.readFile(output, 'utf8'), 'old\n');
});

test('a missing template names the file', async (t) => {
  const dir = await tempDir(t);
  const input = path.join(dir, 'nope.tmpl');
  await t.throwsAsync(renderTemplateFile({ input, output: path.join(dir, 'o') }, {}), { message: new RegExp(`template ${input}: cannot read`) });
});

test('atomic write: the old file is replaced whole, never rewritten in place', async (t) => {
  const dir = await tempDir(t);
  const target = path.join(dir, 'out.conf');
  await fs.writeFile(target, 'old content\n');
  // A reader that opened the old file keeps seeing all of it: the new content went to a new inode.
  const reader = await fs.open(target, 'r');
  t.teardown(() => reader.close());
  await writeFileAtomic(target, 'new content that is longer\n', 0o644);
  t.is((await reader.readFile()).toString(), 'old content\n');
  t.is(await fs.readFile(target, 'utf8'), 'new content that is longer\n');
});

test('atomic write: concurrent readers see either the old or the new file, never a part', async (t) => {
  const dir = await tempDir(t);
  const target = path.join(dir, 'big.conf');
  const versions = ['a', 'b', 'c', 'd'].map((ch) => ch.repeat(1024 * 1024));
  await fs.writeFile(target, versions[0]!);
  const seen = new Set<string>();
  let writing = true;
  const writes = (async () => {
    for (const content of versions.slice(1)) await writeFileAtomic(target, content, 0o644);
    writing = false;
  })();
  let reads = 0;
  while (writing && reads < 10_000) {
    // synchronous read: one whole file per iteration, interleaved with the writer's awaits
    const content = readFileSync(target, 'utf8');
    seen.add(content.length === 1024 * 1024 && new Set(content).size === 1 ? 'whole' : `partial(${content.length})`);
    reads++;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  await writes;
  t.deepEqual([...seen].filter((s) => s !== 'whole'), []);
  t.is(await fs.readFile(target, 'utf8'), versions.at(-1)!);
});

test('atomic write: a failed rename removes the temporary file and keeps the target', async (t) => {
  const dir = await tempDir(t);
  const target = path.join(dir, 'taken');
  await fs.mkdir(target);
  await fs.writeFile(path.join(target, 'inside'), 'x');
  await t.throwsAsync(writeFileAtomic(target, 'content', 0o644));
  t.deepEqual((await fs.readdir(dir)).sort(), ['taken']);
  t.deepEqual(await fs.readdir(target), ['inside']);
});

test('mode is kept exactly even with a restrictive umask', async (t) => {
  const dir = await tempDir(t);
  const input = path.join(dir, 'run.sh.tmpl');
  const output = path.join(dir, 'run.sh');
  await fs.writeFile(input, '#!/bin/sh\nexec app --port ${AUTO_PORT0}\n');
  await fs.chmod(input, 0o775);
  const previous = process.umask(0o077);
  try {
    await renderTemplateFile({ input, output }, { AUTO_PORT0: '20000' });
  } finally {
    process.umask(previous);
  }
  t.is((await fs.stat(output)).mode & 0o7777, 0o775);
});
