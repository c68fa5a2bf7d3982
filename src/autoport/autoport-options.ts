// Options of `switchyard autoport`. Flags win over environment variables, environment variables
// over defaults; the environment names are DomeOS's (`AUTO_PORT_COUNT`, `AVAILABLE_PORT_START`,
// `AVAILABLE_PORT_END`) so a domeize image's settings keep working. Parsed once, frozen.

import { parseDuration } from '../config.ts';
import { AutoportUsageError } from './autoport-errors.ts';

export const DEFAULT_PORT_START = 20000;
/** Excluded, as in DomeOS: the default range is [20000, 21000). */
export const DEFAULT_PORT_END = 21000;
export const DEFAULT_REPORT_TIMEOUT_MS = 30_000;
/** Where the bind test listens: every address, so a port taken on any interface counts as taken. */
export const DEFAULT_BIND_HOST = '0.0.0.0';

export interface TemplateSpec {
  input: string;
  output: string;
}

export interface AutoportOptions {
  count: number;
  /** First port of the range (included). */
  start: number;
  /** Last port of the range (excluded). */
  end: number;
  templates: readonly TemplateSpec[];
  report: boolean;
  /** Run the command as a child (signals forwarded) instead of replacing this process. */
  exec: boolean;
  bindHost: string;
  reportTimeoutMs: number;
  podName: string;
  podNamespace: string;
  kubeconfig: string;
  command: string;
  args: readonly string[];
  help: boolean;
}

export const AUTOPORT_USAGE = `usage: switchyard autoport [options] -- command [args...]

Picks free TCP ports on the host, exports them as AUTO_PORT0..AUTO_PORT{N-1}, renders config
templates with them, records them in the pod's annotations, then execs the command.

  --count N                 ports to pick (env AUTO_PORT_COUNT, default 1)
  --range START-END         port range, END excluded (env AVAILABLE_PORT_START /
                            AVAILABLE_PORT_END, default 20000-21000)
  --template IN:OUT         render IN to OUT with \${VAR} and {{VAR}} replaced (repeatable)
  --no-report               do not annotate the pod (env AUTO_PORT_REPORT=false)
  --report-timeout DUR      give up reporting after DUR (env AUTO_PORT_REPORT_TIMEOUT, default 30s)
  --bind-host ADDR          address of the free-port bind test (env AUTO_PORT_BIND_HOST,
                            default 0.0.0.0; tests use 127.0.0.1)
  --no-exec                 run the command as a child and forward signals instead of exec
  -h, --help                this text

Reporting reads POD_NAME and POD_NAMESPACE (downward API) and KUBECONFIG or the in-cluster config.
Flags win over environment variables. AUTO_PORT_LOG_LEVEL sets autoport's own log level (stderr).`;

const VALUE_FLAGS = new Set(['--count', '--range', '--template', '--report-timeout', '--bind-host']);
const BOOL_FLAGS = new Set(['--no-report', '--no-exec', '--help', '-h']);

function parseCount(raw: string, source: string): number {
  if (!/^\d+$/.test(raw.trim()) || Number(raw) < 1) {
    throw new AutoportUsageError(`${source}: expected an integer >= 1, got "${raw}"`);
  }
  return Number(raw);
}

/** A port bound: `min` is 1 for a start, 2 for an (excluded) end; `max` 65535 or 65536. */
function parsePortBound(raw: string, source: string, min: number, max: number): number {
  const n = Number(raw.trim());
  if (!/^\d+$/.test(raw.trim()) || n < min || n > max) {
    throw new AutoportUsageError(`${source}: expected a port number ${min}-${max}, got "${raw}"`);
  }
  return n;
}

function parseRange(raw: string): { start: number; end: number } {
  const m = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(raw);
  if (!m) throw new AutoportUsageError(`--range: expected START-END (END excluded), got "${raw}"`);
  return {
    start: parsePortBound(m[1]!, '--range start', 1, 65535),
    end: parsePortBound(m[2]!, '--range end', 2, 65536),
  };
}

function parseTemplate(raw: string): TemplateSpec {
  // Split at the last colon: an output path rarely holds one.
  const at = raw.lastIndexOf(':');
  const input = at > 0 ? raw.slice(0, at) : '';
  const output = at > 0 ? raw.slice(at + 1) : '';
  if (input === '' || output === '') {
    throw new AutoportUsageError(`--template: expected INPUT:OUTPUT, got "${raw}"`);
  }
  return { input, output };
}

function parseBool(raw: string, source: string): boolean {
  const v = raw.trim().toLowerCase();
  if (v === 'true' || v === '1' || v === 'yes') return true;
  if (v === 'false' || v === '0' || v === 'no') return false;
  throw new AutoportUsageError(`${source}: expected true or false, got "${raw}"`);
}

function parseTimeout(raw: string, source: string): number {
  try {
    return parseDuration(raw);
  } catch (err) {
    throw new AutoportUsageError(`${source}: ${(err as Error).message}`);
  }
}

/** Parses argv (everything after `autoport`) and the environment. Throws AutoportUsageError. */
export function parseAutoportOptions(argv: readonly string[], env: NodeJS.ProcessEnv): AutoportOptions {
  const flags = new Map<string, string>();
  const templates: TemplateSpec[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') { i++; break; }
    if (!arg.startsWith('-')) break; // the command starts here
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (BOOL_FLAGS.has(name)) {
      if (eq > 0) throw new AutoportUsageError(`${name}: takes no value`);
      flags.set(name === '-h' ? '--help' : name, 'true');
      continue;
    }
    if (!VALUE_FLAGS.has(name)) throw new AutoportUsageError(`${name}: unknown option`);
    let value: string;
    if (eq > 0) value = arg.slice(eq + 1);
    else {
      if (i + 1 >= argv.length) throw new AutoportUsageError(`${name}: missing value`);
      value = argv[++i]!;
    }
    if (name === '--template') templates.push(parseTemplate(value));
    else flags.set(name, value);
  }
  const help = flags.has('--help');
  const [command = '', ...args] = argv.slice(i);

  const count = flags.has('--count') ? parseCount(flags.get('--count')!, '--count')
    : env.AUTO_PORT_COUNT !== undefined && env.AUTO_PORT_COUNT !== '' ? parseCount(env.AUTO_PORT_COUNT, 'AUTO_PORT_COUNT')
    : 1;

  let start = DEFAULT_PORT_START;
  let end = DEFAULT_PORT_END;
  let rangeSource = 'AVAILABLE_PORT_START/AVAILABLE_PORT_END';
  if (flags.has('--range')) {
    ({ start, end } = parseRange(flags.get('--range')!));
    rangeSource = '--range';
  } else {
    if (env.AVAILABLE_PORT_START) start = parsePortBound(env.AVAILABLE_PORT_START, 'AVAILABLE_PORT_START', 1, 65535);
    if (env.AVAILABLE_PORT_END) end = parsePortBound(env.AVAILABLE_PORT_END, 'AVAILABLE_PORT_END', 2, 65536);
  }
  if (start >= end) {
    throw new AutoportUsageError(`${rangeSource}: start ${start} must be below end ${end} (end is excluded)`);
  }

  const report = flags.has('--no-report') ? false
    : env.AUTO_PORT_REPORT ? parseBool(env.AUTO_PORT_REPORT, 'AUTO_PORT_REPORT')
    : true;
  const reportTimeoutMs = flags.has('--report-timeout') ? parseTimeout(flags.get('--report-timeout')!, '--report-timeout')
    : env.AUTO_PORT_REPORT_TIMEOUT ? parseTimeout(env.AUTO_PORT_REPORT_TIMEOUT, 'AUTO_PORT_REPORT_TIMEOUT')
    : DEFAULT_REPORT_TIMEOUT_MS;
  const bindHost = flags.get('--bind-host') ?? (env.AUTO_PORT_BIND_HOST || DEFAULT_BIND_HOST);
  if (bindHost.trim() === '') throw new AutoportUsageError('--bind-host: empty address');

  const podName = env.POD_NAME ?? '';
  const podNamespace = env.POD_NAMESPACE ?? '';
  if (!help) {
    if (command === '') throw new AutoportUsageError('missing command: switchyard autoport [options] -- command [args...]');
    if (report && podName === '') throw new AutoportUsageError('POD_NAME: not set (set it from the downward API, or pass --no-report)');
    if (report && podNamespace === '') throw new AutoportUsageError('POD_NAMESPACE: not set (set it from the downward API, or pass --no-report)');
  }

  return Object.freeze({
    count, start, end,
    templates: Object.freeze(templates),
    report,
    exec: !flags.has('--no-exec'),
    bindHost,
    reportTimeoutMs,
    podName, podNamespace,
    kubeconfig: env.KUBECONFIG ?? '',
    command,
    args: Object.freeze(args),
    help,
  });
}
