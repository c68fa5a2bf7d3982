// Where test/tools/build-go-tool.sh caches a Go-built test tool: the same key (a digest of the
// tool directory's files, in name order), so a test finds exactly the build its pins describe.

import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const TOOLS = fileURLToPath(new URL('../tools/', import.meta.url));

/** The cache directory of tool `name` for the pins in test/tools/<name>/. */
export function toolDir(name: string): string {
  const dir = path.join(TOOLS, name);
  const hash = createHash('sha256');
  const files = readdirSync(dir).filter((f) => statSync(path.join(dir, f)).isFile())
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const f of files) {
    hash.update(f);
    hash.update('\0');
    hash.update(readFileSync(path.join(dir, f)));
  }
  const root = process.env['SWITCHYARD_TOOLS_CACHE'] || path.join(homedir(), '.cache/switchyard/tools');
  return path.join(root, `${name}-${hash.digest('hex').slice(0, 16)}`);
}

/** The path of `binary` built by tool `name`; throws one line saying how to build it. */
export function requireTool(name: string, binary: string = name): string {
  const file = path.join(toolDir(name), binary);
  if (!existsSync(file)) {
    throw new Error(`${binary} (test tool ${name}) missing at ${file}; run \`bash test/tools/build-go-tool.sh ${name}\` (needs Go; .ci/run does it)`);
  }
  return file;
}
