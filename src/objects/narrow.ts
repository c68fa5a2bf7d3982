// What the router keeps of each object: only the fields it reads (the ones validate.ts checks
// and the table, admission, health and status code use), with repeated short strings shared.
// Objects from a cluster carry much more — managedFields (often larger than the object),
// the last-applied-configuration annotation, a Service's status and IP families, an
// EndpointSlice's zones and hints — and the router holds one copy of every Route, Service and
// EndpointSlice for as long as it runs, so what is dropped here is dropped per route.
//
// Applied where objects enter the router (the file source's documents, the Kubernetes
// informer's list and watch events, before the client library caches them), so every cache
// holds the same narrow copy. Narrowing never makes an invalid object valid: a field in an
// unexpected shape is kept as it is, for validateObject to report.

import type { Kind, KubeObject } from './types.ts';
import { exactRecord } from './exact-record.ts';

type Fields = Record<string, unknown>;

/** kubectl's copy of the whole object, as an annotation: never read, often the largest field. */
export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

const isObject = (value: unknown): value is Fields =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);

/**
 * Shares equal short strings (namespaces, label values, port names, protocols, node names):
 * parsed JSON and YAML give every occurrence its own copy. A fixed table of slots, each holding
 * the last string whose hash falls there, not a Map of every string seen: most strings met are
 * one object's own (a label `app: <name>`, a Service name) and a Map entry for each (~46 bytes
 * per route at 10k routes for two such values per route) cost more than sharing them saved; a
 * string met often (a namespace, `prod`, `TCP`) stays in its slot, one met once is overwritten.
 * Bounded by construction; a slot taken by another string only costs sharing, never correctness.
 */
export class StringInterner {
  readonly #slots: Array<string | undefined>;
  #size = 0;
  constructor(slots = 4096) { this.#slots = new Array<string | undefined>(Math.max(1, slots)).fill(undefined); }

  intern<T>(value: T): T {
    if (typeof value !== 'string' || value.length > 253) return value;
    const at = (hashOf(value) >>> 0) % this.#slots.length;
    const known = this.#slots[at];
    if (known === value) return known as T;
    if (known === undefined) this.#size++;
    this.#slots[at] = value;
    return value;
  }

  /** Slots in use. */
  get size(): number { return this.#size; }
}

const shared = new StringInterner();

/**
 * Shares equal small records and arrays of records — a Service's and an EndpointSlice's `ports`,
 * a Route's `spec.port`, annotations — frozen, by content: most Services of a cluster name the
 * same few ports, most Routes carry the same few annotations, and each copy is 50–120 bytes per
 * route. Keyed by a 32-bit hash of the value's JSON, not the JSON itself (a key string would cost
 * what a shared value saves when values are all distinct); a hit is confirmed by comparing the
 * JSON of both, and on a collision the value is not shared. Bounded as StringInterner: full, it
 * starts over.
 */
export class RecordSharer {
  #table = new Map<number, object>();
  readonly #limit: number;
  constructor(limit = 10_000) { this.#limit = limit; }

  /** An equal value seen before (the same frozen object), else `value` itself, frozen (its records too). */
  share<T>(value: T): T {
    if (!isShareable(value)) return value;
    const json = JSON.stringify(value);
    if (json.length > 512) return value;
    const hash = hashOf(json);
    const known = this.#table.get(hash);
    if (known !== undefined) return (JSON.stringify(known) === json ? known : value) as T;
    if (this.#table.size >= this.#limit) this.#table = new Map();
    if (Array.isArray(value)) for (const item of value) Object.freeze(item);
    this.#table.set(hash, Object.freeze(value as object));
    return value;
  }

  get size(): number { return this.#table.size; }
}

/** A flat record of strings, numbers and booleans, or an array of such records. */
function isShareable(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0 && value.length <= 8 && value.every((item) => isObject(item) && isFlat(item));
  return isObject(value) && isFlat(value);
}

function isFlat(record: Fields): boolean {
  for (const key in record) {
    const v = record[key];
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') return false;
  }
  return true;
}

/** FNV-1a over the UTF-16 code units, as a small integer. */
function hashOf(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h | 0;
}

const sharedRecords = new RecordSharer();

/** A copy of `value` with only `keys` (those present), each passed through `map`; other shapes unchanged. */
function pick(value: unknown, keys: readonly string[], map: (key: string, v: unknown) => unknown = (_k, v) => v): unknown {
  if (!isObject(value)) return value;
  const present: string[] = [];
  const values: unknown[] = [];
  for (const key of keys) {
    if (value[key] === undefined) continue;
    present.push(key);
    values.push(map(key, value[key]));
  }
  return exactRecord(present, values);
}

/** A map of strings, or nothing: what validation accepts for labels, annotations and selectors. */
function isStringMap(value: unknown): boolean {
  return value === undefined || value === null || (isObject(value) && Object.values(value).every((v) => typeof v === 'string'));
}

function eachOf(value: unknown, narrow: (item: unknown) => unknown): unknown {
  return Array.isArray(value) ? value.map(narrow) : value;
}

/** Annotations shared by content (RecordSharer); none left is the one NO_ENTRIES. */
function sharedOrEmpty(value: unknown): unknown {
  return value === NO_ENTRIES ? value : sharedRecords.share(value);
}

/** The labels or annotations of objects that have none left (e.g. only kubectl's last-applied copy). */
const NO_ENTRIES: Fields = Object.freeze({});

/**
 * Labels and annotations: every entry is kept (selectors and policies read arbitrary keys) but
 * last-applied. Frozen: nothing edits a kept object, and what plugins see of a route's
 * annotations (ctx.route) can be this object itself rather than a frozen copy per route.
 */
function stringMap(value: unknown, interner: StringInterner, drop?: string): unknown {
  if (!isObject(value)) return value;
  const out: Fields = {};
  let empty = true;
  for (const key of Object.keys(value)) {
    if (key === drop) continue;
    out[key] = interner.intern(value[key]);
    empty = false;
  }
  return empty ? NO_ENTRIES : Object.freeze(out);
}

const METADATA_KEYS = ['name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp',
  'labels', 'annotations', 'ownerReferences'] as const;
/**
 * Kinds whose age and identity beyond namespace/name the router never compares (only Routes,
 * Ingresses and Gateway API objects are aged): their uid, timestamps and owner references go
 * (about 200 bytes per route from a cluster), and their resourceVersion: the informer resumes its
 * watch from the raw event's, read before narrowing, and only the status writer (Routes,
 * Ingresses, Gateway API objects) sends an object's own back.
 * A value validation would refuse stays too, for validateObject to report.
 */
export const AGELESS: ReadonlySet<Kind> = new Set<Kind>(['Service', 'EndpointSlice', 'Pod', 'Secret', 'ConfigMap']);

function droppable(key: string, v: unknown): boolean {
  switch (key) {
    case 'uid':
    case 'resourceVersion': return v === null || typeof v === 'string';
    case 'creationTimestamp':
    case 'deletionTimestamp': return v === null || (typeof v === 'string' && !Number.isNaN(Date.parse(v))) || (v instanceof Date && !Number.isNaN(v.getTime()));
    case 'ownerReferences': return true; // never validated nor read
    default: return false;
  }
}

/**
 * Whose labels the router reads: a Route's and an Ingress's (ROUTE_LABELS sharding), a
 * Namespace's (NAMESPACE_LABELS, Gateway API namespace selectors), Gateway API objects' and
 * Middlewares' (kept whole: cheap, few). A Service's, a Pod's and a Secret's are never read (each
 * label set ~150 bytes per route); of an EndpointSlice's only the Service it belongs to.
 */
const UNLABELLED: ReadonlySet<Kind> = new Set<Kind>(['Service', 'Pod', 'Secret', 'ConfigMap']);
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

function labelsOf(kind: Kind, value: unknown, interner: StringInterner): unknown {
  // Not a map of strings: kept as it is, for validateObject to report.
  if (!isObject(value) || !Object.values(value).every((v) => typeof v === 'string')) return value;
  if (UNLABELLED.has(kind)) return undefined;
  if (kind === 'EndpointSlice') {
    const service = value[SERVICE_NAME_LABEL];
    return service === undefined ? NO_ENTRIES : { [SERVICE_NAME_LABEL]: interner.intern(service) };
  }
  return stringMap(value, interner);
}

function metadata(value: unknown, interner: StringInterner, kind: Kind): unknown {
  if (!isObject(value)) return value;
  const ageless = AGELESS.has(kind);
  const keys: string[] = [];
  const values: unknown[] = [];
  const put = (key: string, v: unknown) => { keys.push(key); values.push(v); };
  for (const key of METADATA_KEYS) {
    const v = value[key];
    if (v === undefined || (ageless && droppable(key, v))) continue;
    switch (key) {
      case 'namespace': put(key, interner.intern(v)); break;
      case 'labels': {
        const labels = labelsOf(kind, v, interner);
        if (labels !== undefined) put(key, labels);
        break;
      }
      case 'annotations': put(key, sharedOrEmpty(stringMap(v, interner, LAST_APPLIED_ANNOTATION))); break;
      case 'ownerReferences': put(key, eachOf(v, (ref) => pick(ref, ['kind', 'name', 'uid'], (_k, s) => interner.intern(s)))); break;
      default: put(key, v);
    }
  }
  return exactRecord(keys, values);
}

type Narrower = (object: Fields, interner: StringInterner) => Fields;

function specAndStatus(o: Fields): Fields {
  return { ...(o.spec !== undefined ? { spec: o.spec } : {}), ...(o.status !== undefined ? { status: o.status } : {}) };
}

const ROUTE_SPEC_KEYS = ['host', 'subdomain', 'path', 'to', 'alternateBackends', 'port', 'tls', 'wildcardPolicy', 'httpHeaders'] as const;
const TARGET_KEYS = ['kind', 'name', 'weight'] as const;
const PORT_KEYS = ['name', 'port', 'targetPort', 'protocol', 'appProtocol'] as const;
const ENDPOINT_KEYS = ['addresses', 'conditions', 'hostname', 'nodeName', 'targetRef'] as const;

const TARGET_REF_KEYS = ['kind', 'name', 'namespace'] as const;
/** A uid validation would refuse stays, for validateObject to report. */
const TARGET_REF_KEYS_INVALID = ['kind', 'name', 'namespace', 'uid'] as const;

const CONDITION_KEYS = ['ready', 'serving', 'terminating'] as const;
/** Frozen condition objects by shape: index Σ 3^i × (0 absent, 1 true, 2 false) over CONDITION_KEYS. */
const CONDITIONS: Array<Fields | undefined> = new Array(27).fill(undefined);

/**
 * An endpoint's conditions are one of 27 shapes ({ready: true} nearly always): every endpoint
 * of every slice shares the frozen object of its shape instead of holding its own. Anything but
 * booleans is left as it is (for validation to report).
 */
function sharedConditions(value: unknown): unknown {
  if (!isObject(value)) return value;
  let index = 0;
  for (let i = 0, weight = 1; i < CONDITION_KEYS.length; i++, weight *= 3) {
    const v = value[CONDITION_KEYS[i]!];
    if (v === undefined) continue;
    if (typeof v !== 'boolean') return value;
    index += weight * (v ? 1 : 2);
  }
  return (CONDITIONS[index] ??= Object.freeze(value));
}

const NARROW: Readonly<Record<Kind, Narrower>> = {
  Route: (o, i) => ({
    spec: pick(o.spec, ROUTE_SPEC_KEYS, (key, v) => {
      if (key === 'to') return pick(v, TARGET_KEYS, (_k, s) => i.intern(s));
      if (key === 'alternateBackends') return eachOf(v, (t) => pick(t, TARGET_KEYS, (_k, s) => i.intern(s)));
      if (key === 'wildcardPolicy') return i.intern(v);
      if (key === 'port') return sharedRecords.share(pick(v, ['targetPort'], (_k, s) => i.intern(s)));
      return v; // host, path, tls (certificates), httpHeaders: kept whole
    }),
    // The status writer compares what it would write with what is there.
    ...(o.status !== undefined ? { status: pick(o.status, ['ingress']) } : {}),
  }),
  Ingress: (o) => ({
    spec: pick(o.spec, ['ingressClassName', 'defaultBackend', 'rules', 'tls']),
    ...(o.status !== undefined ? { status: pick(o.status, ['loadBalancer']) } : {}),
  }),
  IngressClass: (o) => (o.spec !== undefined ? { spec: pick(o.spec, ['controller']) } : {}),
  Service: (o, i) => ({
    // The selector is never read (endpoints come from EndpointSlices): kept only when validation
    // would refuse it, for validateObject to report (~90 bytes per route).
    spec: pick(o.spec, isObject(o.spec) && !isStringMap(o.spec.selector) ? ['type', 'clusterIP', 'externalName', 'selector', 'ports'] : ['type', 'clusterIP', 'externalName', 'ports'], (key, v) => {
      if (key === 'ports') return sharedRecords.share(eachOf(v, (p) => pick(p, PORT_KEYS, (_k, s) => i.intern(s))));
      if (key === 'selector') return v;
      return i.intern(v);
    }),
  }),
  EndpointSlice: (o, i) => ({
    addressType: i.intern(o.addressType),
    ...(o.endpoints !== undefined ? {
      endpoints: eachOf(o.endpoints, (e) => pick(e, ENDPOINT_KEYS, (key, v) => {
        if (key === 'conditions') return sharedConditions(pick(v, CONDITION_KEYS));
        // The Pod's uid is never read (a pod is found by namespace/name): 36 characters per endpoint.
        if (key === 'targetRef') return pick(v, isObject(v) && v.uid !== undefined && typeof v.uid !== 'string' ? TARGET_REF_KEYS_INVALID : TARGET_REF_KEYS, (k, s) => (k === 'kind' || k === 'namespace' ? i.intern(s) : s));
        if (key === 'nodeName') return i.intern(v);
        return v;
      })),
    } : {}),
    ...(o.ports !== undefined ? { ports: sharedRecords.share(eachOf(o.ports, (p) => pick(p, PORT_KEYS, (_k, s) => i.intern(s)))) } : {}),
  }),
  Namespace: () => ({}),
  Pod: (o, i) => ({
    ...(o.spec !== undefined ? { spec: pick(o.spec, ['hostNetwork', 'nodeName'], (_k, v) => i.intern(v)) } : {}),
    ...(o.status !== undefined ? { status: pick(o.status, ['podIP', 'phase'], (k, v) => (k === 'phase' ? i.intern(v) : v)) } : {}),
  }),
  // A plugin's configuration: the plugin's own schema decides what it reads.
  Middleware: (o) => (o.spec !== undefined ? { spec: o.spec } : {}),
  // Gateway API: spec whole (src/gateway/ reads most of it); status as the status writer compares it.
  GatewayClass: specAndStatus,
  Gateway: specAndStatus,
  HTTPRoute: specAndStatus,
  GRPCRoute: specAndStatus,
  TLSRoute: specAndStatus,
  TCPRoute: specAndStatus,
  UDPRoute: specAndStatus,
  ReferenceGrant: specAndStatus,
  BackendTLSPolicy: specAndStatus,
  ListenerSet: specAndStatus,
  ConfigMap: (o) => (o.data !== undefined ? { data: o.data } : {}),
  Secret: (o, i) => ({
    ...(o.type !== undefined ? { type: i.intern(o.type) } : {}),
    ...(o.data !== undefined ? { data: o.data } : {}),
    ...(o.stringData !== undefined ? { stringData: o.stringData } : {}),
  }),
};

/**
 * The object with only the fields switchyard reads. `kind` is the kind the source expects
 * (a file document's own kind, an informer's kind). Any other value passes through untouched.
 */
export function narrowObject<T extends KubeObject>(kind: Kind, object: T, interner: StringInterner = shared): T {
  if (!isObject(object)) return object;
  const fields = object as unknown as Fields;
  const rest = NARROW[kind](fields, interner);
  const keys = ['apiVersion', 'kind', 'metadata'];
  const values = [interner.intern(fields.apiVersion), interner.intern(fields.kind), metadata(fields.metadata, interner, kind)];
  for (const key in rest) {
    keys.push(key);
    values.push(rest[key]);
  }
  return exactRecord(keys, values) as unknown as T;
}
