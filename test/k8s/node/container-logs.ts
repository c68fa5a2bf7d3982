// A container's stdout and stderr kept as the kubelet keeps them (the CRI log format: one line per
// output line, `<RFC 3339 time> <stream> <F|P> <text>`, P for a piece of a longer line), so that
// the node can answer `kubectl logs` — GET /containerLogs/{namespace}/{pod}/{container} on its
// kubelet endpoint (kubelet-server.ts) — with sinceTime, sinceSeconds, timestamps, tailLines and
// limitBytes as the kubelet reads them.

import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { Readable } from 'node:stream';

/** A line longer than this is written in pieces (P), as the CRI runtimes split long lines. */
const MAX_LINE = 16 * 1024;

/** Appends a container's output to `file` in the CRI log format, a line at a time. */
export class ContainerLogWriter {
  readonly #fd: number;
  #closed = false;
  readonly #pending: Record<'stdout' | 'stderr', string> = { stdout: '', stderr: '' };

  constructor(file: string) {
    this.#fd = openSync(file, 'a');
  }

  /** Read `stream` to its end into the log. */
  follow(stream: Readable, name: 'stdout' | 'stderr'): void {
    stream.setEncoding('utf8');
    stream.on('data', (text: string) => this.write(name, text));
    stream.on('end', () => this.#flush(name));
  }

  write(stream: 'stdout' | 'stderr', text: string): void {
    if (this.#closed) return;
    let rest = this.#pending[stream] + text;
    const now = new Date().toISOString();
    let out = '';
    for (let nl = rest.indexOf('\n'); nl !== -1; nl = rest.indexOf('\n')) {
      out += pieces(now, stream, rest.slice(0, nl));
      rest = rest.slice(nl + 1);
    }
    while (rest.length > MAX_LINE) {
      out += `${now} ${stream} P ${rest.slice(0, MAX_LINE)}\n`;
      rest = rest.slice(MAX_LINE);
    }
    this.#pending[stream] = rest;
    if (out !== '') writeSync(this.#fd, out);
  }

  /** What is left of an unterminated last line is a line of its own (the process has ended). */
  #flush(stream: 'stdout' | 'stderr'): void {
    const rest = this.#pending[stream];
    this.#pending[stream] = '';
    if (rest !== '' && !this.#closed) writeSync(this.#fd, pieces(new Date().toISOString(), stream, rest));
  }

  close(): void {
    if (this.#closed) return;
    this.#flush('stdout');
    this.#flush('stderr');
    this.#closed = true;
    closeSync(this.#fd);
  }
}

function pieces(time: string, stream: string, line: string): string {
  let out = '';
  while (line.length > MAX_LINE) {
    out += `${time} ${stream} P ${line.slice(0, MAX_LINE)}\n`;
    line = line.slice(MAX_LINE);
  }
  return `${out}${time} ${stream} F ${line}\n`;
}

export interface LogOptions {
  /** Only lines written at or after this time (sinceTime; sinceSeconds counts back from now). */
  since?: Date;
  /** Prefix each line with its time (RFC 3339) and a space. */
  timestamps?: boolean;
  /** Only the last this many lines. */
  tailLines?: number;
  /** At most this many bytes of output. */
  limitBytes?: number;
}

interface LogLine { time: string; text: string }

/** The lines of a CRI log file (pieces joined), oldest first. */
function readLines(file: string): LogLine[] {
  let content: string;
  try {
    content = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const lines: LogLine[] = [];
  let partial = '';
  for (const raw of content.split('\n')) {
    if (raw === '') continue;
    const a = raw.indexOf(' ');
    const b = raw.indexOf(' ', a + 1);
    const tag = raw.slice(b + 1, b + 2);
    const text = raw.slice(b + 3);
    if (tag === 'P') {
      partial += text;
      continue;
    }
    lines.push({ time: raw.slice(0, a), text: partial + text });
    partial = '';
  }
  return lines;
}

/** A container's log as `kubectl logs` shows it. */
export function readContainerLog(file: string, options: LogOptions = {}): string {
  let lines = readLines(file);
  const since = options.since;
  if (since !== undefined) lines = lines.filter((l) => new Date(l.time).getTime() >= since.getTime());
  if (options.tailLines !== undefined) lines = options.tailLines === 0 ? [] : lines.slice(-options.tailLines);
  let out = lines.map((l) => (options.timestamps === true ? `${l.time} ${l.text}\n` : `${l.text}\n`)).join('');
  if (options.limitBytes !== undefined) {
    const bytes = Buffer.from(out);
    if (bytes.length > options.limitBytes) out = bytes.subarray(0, options.limitBytes).toString('utf8');
  }
  return out;
}
