// The recent configuration errors, for the admin dashboard: a bounded ring (oldest dropped) of
// what a source rejected — which file and document (or which Kubernetes object), which field,
// and why. The count since
// start-up is switchyard_config_errors_total; this keeps the details of the latest ones.

export interface ConfigError {
  /** ms since epoch */
  at: number;
  source: 'file' | 'kubernetes';
  file?: string;
  /** Index of the YAML document in the file (0-based, as in the logs). */
  document?: number;
  /** Item index inside a List document. */
  item?: number;
  kind?: string;
  /** Of a Kubernetes object (file objects are placed by file and document instead). */
  namespace?: string;
  name?: string;
  field?: string;
  /** Line/column of a parse error. */
  line?: number;
  column?: number;
  error: string;
  /** How many times in a row this same error was recorded (a file re-read keeps failing the same way). */
  repeats: number;
}

export class ConfigErrorLog {
  readonly #capacity: number;
  #entries: ConfigError[] = [];
  /** Errors recorded since start-up (also those the ring dropped). */
  total = 0;

  constructor(capacity = 50) {
    this.#capacity = capacity;
  }

  record(error: Omit<ConfigError, 'at' | 'repeats'>, at = Date.now()): void {
    this.total++;
    const last = this.#entries[this.#entries.length - 1];
    if (last !== undefined && sameError(last, error)) {
      last.at = at;
      last.repeats++;
      return;
    }
    this.#entries.push({ at, ...error, repeats: 1 });
    if (this.#entries.length > this.#capacity) this.#entries.splice(0, this.#entries.length - this.#capacity);
  }

  /** Newest first. */
  recent(): ConfigError[] {
    return this.#entries.slice().reverse();
  }
}

function sameError(a: ConfigError, b: Omit<ConfigError, 'at' | 'repeats'>): boolean {
  return a.source === b.source && a.file === b.file && a.document === b.document && a.item === b.item
    && a.kind === b.kind && a.namespace === b.namespace && a.name === b.name && a.field === b.field && a.error === b.error && a.line === b.line && a.column === b.column;
}
