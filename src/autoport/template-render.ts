// Renders application config templates with the picked ports and the environment.
//
// `${NAME}` and `{{NAME}}` (spaces allowed inside the braces: `{{ NAME }}`) are replaced by the
// variable's value. Only plain names ([A-Za-z_][A-Za-z0-9_]*) are references, so `$host`,
// `${VAR:-x}` or `{{ .Values.x }}` pass through untouched. A reference to a variable that is not
// set is an error naming it and the file: a config with a hole in it must not start.
//
// Outputs are written atomically: a temporary file in the output's directory, flushed, given the
// template's mode, then renamed over the output, so a reader sees the old file or the new one.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { AutoportError, UnknownTemplateVariableError } from './autoport-errors.ts';
import type { TemplateSpec } from './autoport-options.ts';

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/** Replaces every reference; throws UnknownTemplateVariableError listing each missing name once. */
export function renderTemplate(text: string, vars: Readonly<Record<string, string | undefined>>, file: string): string {
  const missing = new Set<string>();
  const out = text.replace(REFERENCE, (match, dollarName: string | undefined, braceName: string | undefined) => {
    const name = (dollarName ?? braceName)!;
    const value = Object.hasOwn(vars, name) ? vars[name] : undefined;
    if (value === undefined) {
      missing.add(name);
      return match;
    }
    return value;
  });
  if (missing.size > 0) throw new UnknownTemplateVariableError([...missing], file);
  return out;
}

/** Writes `content` to `target` through a temporary sibling and a rename; `mode` is applied exactly. */
export async function writeFileAtomic(target: string, content: string, mode: number): Promise<void> {
  const dir = path.dirname(target);
  const temp = path.join(dir, `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(temp, 'wx', 0o600);
    await handle.writeFile(content);
    // chmod after open: the umask would otherwise cut bits off the template's mode.
    await handle.chmod(mode);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fs.rename(temp, target);
  } catch (err) {
    await handle?.close().catch(() => undefined);
    await fs.rm(temp, { force: true }).catch(() => undefined);
    throw err;
  }
}

/** Renders one `--template IN:OUT`; errors name the file involved. */
export async function renderTemplateFile(spec: TemplateSpec, vars: Readonly<Record<string, string | undefined>>): Promise<void> {
  let text: string;
  let mode: number;
  try {
    const stat = await fs.stat(spec.input);
    if (!stat.isFile()) throw new Error('not a regular file');
    mode = stat.mode & 0o7777;
    text = await fs.readFile(spec.input, 'utf8');
  } catch (err) {
    throw new AutoportError(`template ${spec.input}: cannot read: ${(err as Error).message}`);
  }
  const rendered = renderTemplate(text, vars, spec.input);
  try {
    await writeFileAtomic(spec.output, rendered, mode);
  } catch (err) {
    throw new AutoportError(`template output ${spec.output}: cannot write: ${(err as Error).message}`);
  }
}
