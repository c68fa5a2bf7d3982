// The file source: Kubernetes objects from multi-document YAML/JSON files, applied to the store
// and kept in step with the files as they are edited — incrementally: only the documents whose
// text changed are parsed again (file-document-cache.ts), and only objects that changed reach
// the store.
//
// What a file says is applied only when it is good: a file that cannot be read or parsed keeps
// everything it contributed before (and a deleted file keeps serving its last objects, so an
// accidental `rm` does not take routes down); a document that fails validation keeps its last
// good version while the rest of the file applies. At start, though, a missing or unparsable
// file is fatal: starting on a wrong configuration silently is worse than not starting.
//
// Order matters to admission: objects without a creationTimestamp are aged by arrival, so
// documents are upserted in file order and files in the order given ("earlier is older").
// The same object (kind/namespace/name) in two files: the later file in the argument list wins;
// if it drops the object, the earlier file's version comes back.

import { readFile } from 'node:fs/promises';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Kind, KubeObject } from '../objects/types.ts';
import type { ObjectStore } from '../store.ts';
import { FileParseError, positionOf, type FileDocument } from './file-documents.ts';
import { joined } from '../flat-string.ts';
import { FileDocumentCache, digestOf } from './file-document-cache.ts';
import { FileWatch, statSignature } from './file-watch.ts';
import type { ConfigError, ConfigErrorLog } from './config-error-log.ts';

export interface FileSourceOptions {
  logger: Logger;
  metrics?: Metrics;
  /** Keeps the details of recent errors (the admin dashboard shows them). */
  errors?: ConfigErrorLog;
  /**
   * Quiet time after a change event before the file is re-read (default 50 ms). The events of
   * one save (write, chmod, rename; a ConfigMap volume's symlink swap) arrive within a few ms
   * of each other; every ms above that is added to each edit's propagation.
   */
  debounceMs?: number;
  /** Stat poll interval, the fallback where fs.watch delivers nothing. */
  pollMs?: number;
}

/**
 * A valid document of the file: its result holds the kind and the object, its identity the store
 * key. The document itself is the contribution (one object per document fewer than a record of
 * kind, key and object each).
 */
type Contribution = FileDocument & { result: { ok: true; kind: Kind; object: KubeObject }; identity: { kind: Kind; key: string } };

/**
 * What one file contributes: objects by `kind\0key` in document order; `kept`, the ids whose
 * previous version an invalid document keeps serving, by its position (rare: made on first use);
 * `duplicates`, the ids named by more than one document, and `invalid`, how many documents failed
 * validation (both keep an edit off the fast path, see #patch).
 */
interface Contributions { objects: Map<string, Contribution>; kept: Map<number | string, string> | null; duplicates: Set<string>; invalid: number }

interface FileState {
  path: string;
  index: number;
  current: Contributions;
  /** Digest of the text last applied (not the text: that would keep the whole file in memory). */
  lastDigest: string | undefined;
  /** Parsed documents by piece of text: a reload re-parses only the documents that changed. */
  documents: FileDocumentCache;
  /**
   * The documents `current` was made from, and each one's position then (see #patch; the
   * document cache updates a reused document's index in place): the index itself for a plain
   * document, a number rather than a string per document.
   */
  lastDocuments: FileDocument[];
  lastPositions: Array<number | string>;
  missing: boolean;
  reloading: boolean;
  reloadAgain: boolean;
  watch: FileWatch | undefined;
}

export class FileSource {
  #paths: string[];
  #store: ObjectStore;
  #logger: Logger;
  #metrics: Metrics | undefined;
  #debounceMs: number;
  #pollMs: number;
  #errors: ConfigErrorLog | undefined;
  #files: FileState[] = [];
  #started = false;
  #stopped = false;

  constructor(paths: string[], store: ObjectStore, options: FileSourceOptions) {
    this.#paths = [...paths];
    this.#store = store;
    this.#logger = options.logger;
    this.#metrics = options.metrics;
    this.#errors = options.errors;
    this.#debounceMs = options.debounceMs ?? 50;
    this.#pollMs = options.pollMs ?? 500;
  }

  /** Load every file into the store (rejects naming the file that is missing or unparsable), then watch them. */
  async start(): Promise<void> {
    if (this.#started) throw new Error('file source: already started');
    this.#started = true;
    const loaded: Array<{ path: string; digest: string; signature: string | undefined; documents: FileDocument[]; cache: FileDocumentCache }> = [];
    for (const path of this.#paths) {
      // Stat before reading: a change in between shows up as a new signature on the first poll.
      const signature = await statSignature(path);
      let bytes: Buffer;
      try {
        bytes = await readFile(path);
      } catch (err) {
        this.#countError({ file: path, error: describeReadError(err) });
        throw new Error(`file source: cannot read ${path}: ${describeReadError(err)}`);
      }
      try {
        const cache = new FileDocumentCache();
        loaded.push({ path, digest: digestOf(bytes), signature, documents: cache.parse(bytes.toString('utf8')), cache });
      } catch (err) {
        this.#countError({ file: path, error: (err as Error).message });
        throw new Error(`file source: cannot parse ${path}: ${(err as Error).message}`);
      }
    }
    if (this.#stopped) return;
    const empty: Contributions = { objects: new Map(), kept: null, duplicates: new Set(), invalid: 0 };
    loaded.forEach(({ path, digest, documents, cache }, index) => {
      const state: FileState = {
        path, index, current: this.#contributions(path, documents, empty, [], []), lastDigest: digest, documents: cache,
        missing: false, reloading: false, reloadAgain: false, watch: undefined,
        lastDocuments: documents, lastPositions: documents.map(positionKey),
      };
      this.#files.push(state);
      // In order, file after file: a later file's upsert replaces an earlier file's object.
      for (const c of state.current.objects.values()) this.#store.upsert(c.result.kind, c.result.object);
    });
    this.#store.flush();
    for (const [i, state] of this.#files.entries()) {
      state.watch = new FileWatch(state.path, loaded[i]!.signature, () => void this.#reload(state), {
        debounceMs: this.#debounceMs, pollMs: this.#pollMs, logger: this.#logger,
      });
    }
    this.#logger.info({ files: this.#paths, objects: this.#files.reduce((n, f) => n + f.current.objects.size, 0) }, 'file source loaded');
  }

  /**
   * Resolves once every file has been polled twice in a row with nothing new and no reload
   * running: whatever an edit was going to cause has happened (tests wait on this, not on time).
   */
  async settled(): Promise<void> {
    for (let quiet = 0; quiet < 2;) {
      await Promise.all(this.#files.map((f) => f.watch?.nextQuietPoll()));
      quiet = this.#files.some((f) => f.reloading) ? 0 : quiet + 1;
    }
  }

  /** Close watchers and timers; objects already in the store stay. */
  stop(): void {
    this.#stopped = true;
    for (const state of this.#files) {
      state.watch?.close();
      state.watch = undefined;
    }
  }

  async #reload(state: FileState): Promise<void> {
    if (state.reloading) {
      state.reloadAgain = true;
      return;
    }
    state.reloading = true;
    try {
      do {
        state.reloadAgain = false;
        await this.#reloadOnce(state);
      } while (state.reloadAgain && !this.#stopped);
    } catch (err) {
      // Nothing here should throw; if something does, the served objects stay and we say why.
      this.#logger.error({ file: state.path, err: (err as Error).message }, 'file reload failed; keeping its previous objects');
      this.#countError({ file: state.path, error: (err as Error).message });
    } finally {
      state.reloading = false;
    }
  }

  async #reloadOnce(state: FileState): Promise<void> {
    let bytes: Buffer;
    try {
      // Read whole, then decoded at once (below): with an encoding, readFile decodes chunk by
      // chunk into a string that is flattened on first use (a few ms per MB on every reload).
      bytes = await readFile(state.path);
    } catch (err) {
      if (this.#stopped) return;
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        if (!state.missing) {
          this.#logger.warn({ file: state.path, objects: state.current.objects.size }, 'file deleted; keeping its last objects until it comes back');
        }
        state.missing = true;
      } else {
        this.#logger.error({ file: state.path, error: describeReadError(err) }, 'cannot read file; keeping its previous objects');
        this.#countError({ file: state.path, error: describeReadError(err) });
      }
      return;
    }
    if (this.#stopped) return;
    if (state.missing) {
      state.missing = false;
      this.#logger.info({ file: state.path }, 'file is back');
    }
    // The bytes' digest, before decoding: an unchanged file (a spurious event, a poll) costs no
    // decoding, and a changed one is not encoded back to UTF-8 to be hashed.
    const digest = digestOf(bytes);
    if (digest === state.lastDigest) return;
    state.lastDigest = digest;
    const text = bytes.toString('utf8');
    const started = performance.now();
    let documents: FileDocument[];
    try {
      documents = state.documents.parse(text);
    } catch (err) {
      const parse = err instanceof FileParseError ? err : new FileParseError(String(err));
      this.#logger.error(
        { file: state.path, line: parse.line, column: parse.column, error: parse.reason },
        'cannot parse file; keeping its previous objects',
      );
      this.#countError({ file: state.path, line: parse.line, column: parse.column, error: parse.reason });
      return;
    }
    if (!this.#patch(state, documents)) {
      const next = this.#contributions(state.path, documents, state.current, state.lastDocuments, state.lastPositions);
      this.#apply(state, next);
      state.lastDocuments = documents;
      state.lastPositions = documents.map(positionKey);
    }
    this.#logger.info({ file: state.path, parsed: state.documents.parsed, reused: state.documents.reused, ms: Math.round(performance.now() - started) },
      'file reloaded');
  }

  /**
   * The objects a file now contributes. A document that fails validation keeps the previous
   * good version of the same object (found by kind/namespace/name, or by its position in the
   * file when it no longer names itself).
   */
  #contributions(path: string, documents: FileDocument[], previous: Contributions, previousDocuments: FileDocument[], previousPositions: Array<number | string>): Contributions {
    const next: Contributions = { objects: new Map(), kept: null, duplicates: new Set(), invalid: 0 };
    /** The id served from a position of the previous documents (made once, when an invalid document needs it). */
    let previousAt: Map<number | string, string> | null = null;
    for (const doc of documents) {
      const { result } = doc;
      if (result.ok) {
        const id = contributionId(result.kind, doc.identity!.key);
        if (next.objects.has(id)) {
          next.duplicates.add(id);
          this.#logger.warn({ file: path, document: doc.document, item: doc.item, kind: result.kind, key: doc.identity!.key },
            'object appears twice in the file; the later document wins');
        }
        next.objects.set(id, doc as Contribution);
        continue;
      }
      if (result.ignored) {
        this.#logger.debug({ file: path, document: doc.document, item: doc.item, kind: result.kind, name: result.name }, 'kind not read by switchyard; skipped');
        continue;
      }
      next.invalid++;
      this.#logger.error(
        { file: path, document: doc.document, item: doc.item, kind: result.kind, name: result.name, field: result.field, error: result.error },
        'invalid object skipped; its previous version (if any) stays',
      );
      this.#countError({ file: path, document: doc.document, item: doc.item, kind: result.kind, name: result.name, field: result.field, error: result.error });
      const position = positionKey(doc);
      const previousId = doc.identity
        ? contributionId(doc.identity.kind, doc.identity.key)
        : (previousAt ??= positionsOf(previous, previousDocuments, previousPositions)).get(position);
      const kept = previousId === undefined ? undefined : previous.objects.get(previousId);
      if (kept && previousId !== undefined && !next.objects.has(previousId) && (result.kind === undefined || result.kind === kept.result.kind)) {
        next.objects.set(previousId, kept);
        (next.kept ??= new Map()).set(position, previousId);
      }
    }
    return next;
  }

  /**
   * The common edit, patched in without a pass over the whole file: every document is the cached
   * one at the same position except a few edited in place, each still valid and naming the same
   * object, which no other document names. Then only those objects change (what #contributions
   * and #apply would conclude, at 10k routes for about a third of an edit's time). Anything else
   * — a document added, removed, moved, renamed, invalid, or a file with invalid documents, whose
   * errors every reload reports again — returns false and takes the full pass.
   */
  #patch(state: FileState, documents: FileDocument[]): boolean {
    const before = state.lastDocuments;
    const positions = state.lastPositions;
    if (documents.length !== before.length || state.current.invalid > 0) return false;
    const edits: Array<{ id: string; contribution: Contribution }> = [];
    for (let i = 0; i < documents.length; i++) {
      const now = documents[i]!;
      if (positionKey(now) !== positions[i]) return false;
      const was = before[i]!;
      if (now === was) continue;
      if (!was.result.ok || !now.result.ok) return false;
      const id = contributionId(was.result.kind, was.identity!.key);
      if (contributionId(now.result.kind, now.identity!.key) !== id || state.current.duplicates.has(id)) return false;
      const current = state.current.objects.get(id)?.result;
      if (current?.ok !== true || current.object !== was.result.object) return false;
      edits.push({ id, contribution: now as Contribution });
    }
    state.lastDocuments = documents;
    for (const { id, contribution } of edits) {
      state.current.objects.set(id, contribution); // an existing key: its place in document order stays
      if (this.#ownerOf(id) === state) this.#store.upsert(contribution.result.kind, contribution.result.object);
    }
    return true;
  }

  /**
   * Upsert what is new or changed, remove what is gone. An object the document cache handed back
   * unchanged (the same reference as last time) is skipped without a look: the store has it.
   */
  #apply(state: FileState, next: Contributions): void {
    const previous = state.current;
    state.current = next;
    for (const [id, c] of next.objects) {
      if (previous.objects.get(id)?.result.object === c.result.object) continue;
      if (this.#ownerOf(id) === state) this.#store.upsert(c.result.kind, c.result.object);
    }
    for (const [id, c] of previous.objects) {
      if (next.objects.has(id)) continue;
      const owner = this.#ownerOf(id);
      const fallback = owner?.current.objects.get(id);
      if (fallback) this.#store.upsert(fallback.result.kind, fallback.result.object);
      else this.#store.remove(c.result.kind, c.identity.key);
    }
  }

  /** The file whose version of an object is served: the last one in the argument list that has it. */
  #ownerOf(id: string): FileState | undefined {
    for (let i = this.#files.length - 1; i >= 0; i--) {
      if (this.#files[i]!.current.objects.has(id)) return this.#files[i];
    }
    return undefined;
  }

  #countError(detail: Omit<ConfigError, 'at' | 'source' | 'repeats'>): void {
    this.#metrics?.configErrors.inc({ source: 'file' });
    this.#errors?.record({ source: 'file', ...detail });
  }
}

/** Flat (joined), not a rope: one is kept per object of the file. */
function contributionId(kind: Kind, key: string): string {
  return joined([kind, key], '\0');
}

/** A document's position as lastPositions keeps it: its index for a plain document, else `3.items[1]`. */
function positionKey(doc: FileDocument): number | string {
  return doc.item === undefined ? doc.document : positionOf(doc);
}

/** The id each position of the previous documents served: the valid documents', and the ones invalid documents kept. */
function positionsOf(previous: Contributions, documents: FileDocument[], positions: Array<number | string>): Map<number | string, string> {
  const at = new Map<number | string, string>(previous.kept ?? []);
  documents.forEach((doc, i) => {
    if (doc.result.ok && doc.identity) at.set(positions[i]!, contributionId(doc.result.kind, doc.identity.key));
  });
  return at;
}

function describeReadError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'file not found';
  if (code === 'EACCES') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  return (err as Error).message;
}
