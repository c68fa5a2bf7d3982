// Turns the text of one configuration file into validated documents, in file order: the
// multi-document YAML (JSON is YAML too) is split, `List` documents contribute their items,
// and each document is checked by validateObject. A YAML syntax error fails the whole file
// (FileParseError, with line and column but without the source snippet, which could quote a
// key); a bad document fails only itself.

import { loadAll, YAMLException } from 'js-yaml';
import { objectKey, KINDS, type Kind, type KubeObject } from '../objects/types.ts';
import { validateObject, type ValidationResult } from '../objects/validate.ts';

/**
 * One object of a file. Kept for every document of a file for as long as the router runs (the
 * document cache, the file's contributions), so it holds only what cannot be derived: where it
 * sits is `positionOf(doc)`, made when asked.
 */
export interface FileDocument {
  /** Index of the YAML document in the file (0-based, empty documents counted). */
  document: number;
  /** Index within the document's `items` when it came from a List. */
  item?: number;
  result: ValidationResult;
  /** Kind and store key, when the raw document names them — even if it failed validation. */
  identity?: { kind: Kind; key: string };
}

/** `3`, or `3.items[1]` for a List item: where the object sits in the file. */
export function positionOf(doc: FileDocument): string {
  return doc.item === undefined ? String(doc.document) : `${doc.document}.items[${doc.item}]`;
}

export class FileParseError extends Error {
  readonly reason: string;
  /** 1-based, when the parser knows it. */
  readonly line: number | undefined;
  readonly column: number | undefined;
  constructor(reason: string, line?: number, column?: number) {
    super(line === undefined ? reason : `${reason} (line ${line}, column ${column})`);
    this.reason = reason;
    this.line = line;
    this.column = column;
  }
}

const OUR_KINDS: ReadonlySet<string> = new Set(KINDS);

/**
 * Bounds on what one file may make the router build. YAML aliases share one object, so a few
 * hundred bytes (`b: [*a,*a,…]`, nine levels deep) expand to hundreds of millions of nodes the
 * moment anything walks them (validation, fingerprints): the "billion laughs". Kubernetes
 * objects need no aliases; hand-written files may use a few.
 */
export const FILE_LIMITS = Object.freeze({
  /** Largest file read, in bytes. */
  maxBytes: 32 * 1024 * 1024,
  /** Alias nodes (`*name`) per YAML document. */
  maxAliases: 100,
  /** Nodes of one document once aliases are expanded (a 10,000-item List is about 500,000). */
  maxExpandedNodes: 2_000_000,
  /** Nesting depth (js-yaml's default). */
  maxDepth: 100,
});

export function parseObjectFile(text: string): FileDocument[] {
  if (text.length > FILE_LIMITS.maxBytes) throw new FileParseError(`file larger than ${FILE_LIMITS.maxBytes} bytes`);
  let raw: unknown[];
  try {
    raw = loadAll(text, { maxAliases: FILE_LIMITS.maxAliases, maxDepth: FILE_LIMITS.maxDepth });
    raw.forEach((doc, index) => {
      if (expandedNodes(doc, FILE_LIMITS.maxExpandedNodes, new Map()) > FILE_LIMITS.maxExpandedNodes) {
        throw new FileParseError(`document ${index} expands to more than ${FILE_LIMITS.maxExpandedNodes} nodes through aliases`);
      }
    });
  } catch (err) {
    if (err instanceof FileParseError) throw err;
    if (err instanceof YAMLException) {
      const mark = err.mark;
      throw new FileParseError(err.reason, mark ? mark.line + 1 : undefined, mark ? mark.column + 1 : undefined);
    }
    throw new FileParseError(err instanceof Error ? err.message : String(err));
  }
  const documents: FileDocument[] = [];
  raw.forEach((doc, index) => {
    if (doc === null || doc === undefined) return; // `---` with nothing after it
    const items = listItems(doc);
    if (items === undefined) {
      documents.push(describe(doc, index, undefined));
    } else if (!Array.isArray(items)) {
      documents.push({ document: index, result: { ok: false, error: 'items: required array', field: 'items', kind: 'List' } });
    } else {
      items.forEach((item, i) => documents.push(describe(withListDefaults(item, doc as Record<string, unknown>), index, i)));
    }
  });
  return documents;
}

/**
 * Node count of `value` with aliases expanded (shared objects counted once per reference),
 * computed in time proportional to the distinct objects; stops counting past `limit`.
 */
function expandedNodes(value: unknown, limit: number, seen: Map<object, number>): number {
  if (typeof value !== 'object' || value === null) return 1;
  const known = seen.get(value);
  if (known !== undefined) return known;
  let total = 1;
  const children = Array.isArray(value) ? value : Object.values(value);
  for (const child of children) {
    total += expandedNodes(child, limit, seen);
    if (total > limit) break;
  }
  seen.set(value, total);
  return total;
}

/** The `items` of a List document (`kind: List`, or `RouteList` and the like), else undefined. */
function listItems(doc: unknown): unknown {
  if (typeof doc !== 'object' || doc === null) return undefined;
  const { kind, items } = doc as { kind?: unknown; items?: unknown };
  if (kind === 'List') return items ?? [];
  if (typeof kind === 'string' && kind.endsWith('List') && Array.isArray(items)) return items;
  return undefined;
}

/** Items of a typed list (`RouteList`, as the API serves it) may omit their kind and apiVersion. */
function withListDefaults(item: unknown, list: Record<string, unknown>): unknown {
  const listKind = list.kind as string;
  if (listKind === 'List' || typeof item !== 'object' || item === null || Array.isArray(item)) return item;
  const fields = item as Record<string, unknown>;
  if (fields.kind !== undefined && fields.apiVersion !== undefined) return item;
  return { apiVersion: list.apiVersion, kind: listKind.slice(0, -'List'.length), ...fields };
}

function describe(doc: unknown, document: number, item: number | undefined): FileDocument {
  const validated = validateObject(doc);
  const result = validated.ok ? withStringData(validated) : validated;
  const identity = validated.ok ? { kind: validated.kind, key: objectKey(validated.kind, validated.object.metadata) } : rawIdentity(doc);
  // Every field in the literal: one added later goes to a separate properties array (per document).
  if (item === undefined) return identity ? { document, result, identity } : { document, result };
  return identity ? { document, item, result, identity } : { document, item, result };
}

/** Kind and key of a document that failed validation, so its last good version can stay. */
function rawIdentity(doc: unknown): FileDocument['identity'] {
  if (typeof doc !== 'object' || doc === null) return undefined;
  const { kind, metadata } = doc as { kind?: unknown; metadata?: unknown };
  if (typeof kind !== 'string' || !OUR_KINDS.has(kind) || typeof metadata !== 'object' || metadata === null) return undefined;
  const { name, namespace } = metadata as { name?: unknown; namespace?: unknown };
  if (typeof name !== 'string' || name === '') return undefined;
  const ns = typeof namespace === 'string' && namespace !== '' ? namespace : undefined;
  return { kind: kind as Kind, key: objectKey(kind as Kind, { name, namespace: ns }) };
}

/**
 * A Secret's `stringData` is folded into `data` (base64), as the API server does on write, so
 * readers of Secrets see one form whichever source the object came from.
 */
function withStringData(result: ValidationResult & { ok: true }): ValidationResult {
  if (result.kind !== 'Secret') return result;
  const { stringData, ...rest } = result.object as KubeObject & { stringData?: Record<string, string> | null; data?: Record<string, string> | null };
  if (stringData === undefined) return result;
  const data: Record<string, string> = { ...(rest.data ?? {}) };
  for (const [key, value] of Object.entries(stringData ?? {})) data[key] = Buffer.from(value, 'utf8').toString('base64');
  return { ok: true, kind: 'Secret', object: { ...rest, data } };
}
