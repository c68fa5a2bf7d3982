// Kubernetes objects served as protobuf (`application/vnd.kubernetes.protobuf`), read into the
// shapes their JSON has, for the built-in kinds the router reads: Services and EndpointSlices
// (two of the three objects per route), Ingresses, IngressClasses and Namespaces. client-go asks for protobuf
// for built-in kinds for the same reason: the API server encodes protobuf several times cheaper
// than JSON, and each router's start reads every Service and EndpointSlice of the cluster.
//
// Only the fields narrow.ts keeps are read (the rest is skipped by the reader), each as the API's
// JSON would give it: an empty string the JSON omits (`omitempty`) is omitted, a pointer field
// the server set is kept even when empty (an EndpointSlice port's `name: ""`), an int-or-string
// becomes a number or a string, a time an RFC 3339 string. The field numbers are those of
// k8s.io/api's generated.proto (core/v1, discovery/v1, networking/v1) and k8s.io/apimachinery's (meta/v1,
// runtime, util/intstr). A test reads the same objects both ways from a real API server.
//
// The envelope: a protobuf body starts with the magic `k8s\0`, then a runtime.Unknown message
// (typeMeta 1 {apiVersion 1, kind 2}, raw 2, contentEncoding 3, contentType 4) whose raw is the
// object's message.

import type { Kind } from '../objects/types.ts';
import { ProtobufError, ProtobufReader } from './protobuf-reader.ts';

/** What the router asks for when it can read protobuf: JSON still for what the server has no protobuf for (custom resources). */
export const PROTOBUF_ACCEPT = 'application/vnd.kubernetes.protobuf, application/json';
export const PROTOBUF_CONTENT_TYPE = 'application/vnd.kubernetes.protobuf';

/**
 * An answer of the object's metadata only (PartialObjectMetadata), protobuf preferred: what a
 * writer that needs only the new resourceVersion asks for. The server transforms any object so,
 * custom resources too (it serves their metadata as protobuf).
 */
export const PARTIAL_METADATA_ACCEPT = [
  `${PROTOBUF_CONTENT_TYPE};as=PartialObjectMetadata;g=meta.k8s.io;v=v1`,
  'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1',
  'application/json',
].join(', ');

/** The kinds read as protobuf where the server offers it. */
export const PROTOBUF_KINDS: ReadonlySet<Kind> = new Set<Kind>(['Service', 'EndpointSlice', 'Namespace', 'Ingress', 'IngressClass']);

const MAGIC = Buffer.from('k8s\0', 'latin1');

type Fields = Record<string, unknown>;

/** An enveloped object: its type and its message's bytes. */
export interface UnknownObject { apiVersion: string; kind: string; raw: Buffer }

/** Whether a response's Content-Type is Kubernetes protobuf (`;stream=watch` for a watch). */
export function isProtobuf(contentType: string | string[] | undefined): boolean {
  const value = Array.isArray(contentType) ? contentType[0] : contentType;
  return value !== undefined && value.toLowerCase().startsWith(PROTOBUF_CONTENT_TYPE);
}

/** Open the `k8s\0` + runtime.Unknown envelope. */
export function unwrap(body: Buffer): UnknownObject {
  if (body.length < MAGIC.length || !body.subarray(0, MAGIC.length).equals(MAGIC)) throw new ProtobufError('protobuf body without the Kubernetes envelope');
  const r = new ProtobufReader(body, MAGIC.length);
  let apiVersion = '';
  let kind = '';
  let raw: Buffer = Buffer.alloc(0);
  let encoding = '';
  while (r.next()) {
    switch (r.field) {
      case 1: {
        const type = r.message();
        while (type.next()) {
          if (type.field === 1) apiVersion = type.string();
          else if (type.field === 2) kind = type.string();
          else type.skip();
        }
        break;
      }
      case 2: raw = r.bytes(); break;
      case 3: encoding = r.string(); break;
      default: r.skip();
    }
  }
  if (encoding !== '') throw new ProtobufError(`protobuf object with content encoding ${encoding}`);
  return { apiVersion, kind, raw };
}

/** An object of `kind` from its message's bytes, shaped as its JSON. */
export function decodeObject(kind: Kind, raw: Buffer): Fields {
  const decode = OBJECT[kind];
  if (!decode) throw new ProtobufError(`no protobuf decoder for ${kind}`);
  return decode(new ProtobufReader(raw));
}

/** A list response (`<Kind>List`): its metadata and items. */
export function decodeList(kind: Kind, body: Buffer): { metadata: Fields; items: Fields[] } {
  const { kind: listKind, raw } = unwrap(body);
  if (listKind !== `${kind}List`) throw new ProtobufError(`expected a ${kind}List, the server sent ${listKind || 'no kind'}`);
  const decode = OBJECT[kind];
  if (!decode) throw new ProtobufError(`no protobuf decoder for ${kind}`);
  const r = new ProtobufReader(raw);
  let metadata: Fields = {};
  const items: Fields[] = [];
  while (r.next()) {
    if (r.field === 1) metadata = listMeta(r.message());
    else if (r.field === 2) items.push(decode(r.message()));
    else r.skip();
  }
  return { metadata, items };
}

/** A meta/v1 PartialObjectMetadata {metadata 1}, enveloped. */
export function decodePartialObjectMetadata(body: Buffer): Fields {
  const { kind, raw } = unwrap(body);
  if (kind !== 'PartialObjectMetadata') throw new ProtobufError(`expected PartialObjectMetadata, the server sent ${kind || 'no kind'}`);
  const r = new ProtobufReader(raw);
  const o: Fields = { apiVersion: 'meta.k8s.io/v1', kind, metadata: {} };
  while (r.next()) {
    if (r.field === 1) o.metadata = objectMeta(r.message());
    else r.skip();
  }
  return o;
}

/** A meta/v1 Status (an error answer, a watch's ERROR event), enveloped. */
export function decodeStatus(body: Buffer): Fields {
  const { kind, raw } = unwrap(body);
  if (kind !== 'Status') throw new ProtobufError(`expected a Status, the server sent ${kind || 'no kind'}`);
  return statusMessage(new ProtobufReader(raw));
}

function statusMessage(r: ProtobufReader): Fields {
  const status: Fields = { kind: 'Status', apiVersion: 'v1' };
  while (r.next()) {
    switch (r.field) {
      case 2: omitEmpty(status, 'status', r.string()); break;
      case 3: omitEmpty(status, 'message', r.string()); break;
      case 4: omitEmpty(status, 'reason', r.string()); break;
      case 6: { const code = r.int32(); if (code !== 0) status.code = code; break; }
      default: r.skip();
    }
  }
  return status;
}

/** A watch event's object: enveloped (as kube-apiserver sends it) or bare; a Status for ERROR events. */
export function decodeEventObject(kind: Kind, type: string, raw: Buffer): Fields {
  if (raw.length >= MAGIC.length && raw[0] === MAGIC[0] && raw.subarray(0, MAGIC.length).equals(MAGIC)) {
    const inner = unwrap(raw);
    return inner.kind === 'Status' ? statusMessage(new ProtobufReader(inner.raw)) : decodeObject(kind, inner.raw);
  }
  return type === 'ERROR' ? statusMessage(new ProtobufReader(raw)) : decodeObject(kind, raw);
}

// --- meta/v1

function omitEmpty(out: Fields, key: string, value: string): void {
  if (value !== '') out[key] = value;
}

function objectMeta(r: ProtobufReader): Fields {
  const m: Fields = {};
  while (r.next()) {
    switch (r.field) {
      case 1: omitEmpty(m, 'name', r.string()); break;
      case 3: omitEmpty(m, 'namespace', r.string()); break;
      case 5: omitEmpty(m, 'uid', r.string()); break;
      case 6: omitEmpty(m, 'resourceVersion', r.string()); break;
      case 7: { const generation = r.uint(); if (generation !== 0) m.generation = generation; break; }
      case 8: m.creationTimestamp = time(r.message()); break;
      case 9: m.deletionTimestamp = time(r.message()); break;
      case 11: m.labels = mapEntry(r.message(), (m.labels as Record<string, string> | undefined) ?? {}); break;
      case 12: m.annotations = mapEntry(r.message(), (m.annotations as Record<string, string> | undefined) ?? {}); break;
      case 13: ((m.ownerReferences ??= []) as Fields[]).push(ownerReference(r.message())); break;
      default: r.skip();
    }
  }
  return m;
}

function listMeta(r: ProtobufReader): Fields {
  const m: Fields = {};
  while (r.next()) {
    switch (r.field) {
      case 2: omitEmpty(m, 'resourceVersion', r.string()); break;
      case 3: omitEmpty(m, 'continue', r.string()); break;
      case 4: m.remainingItemCount = r.uint(); break;
      default: r.skip();
    }
  }
  return m;
}

/** meta/v1 Time {seconds 1, nanos 2} as its JSON: RFC 3339 in UTC, whole seconds. */
function time(r: ProtobufReader): string | null {
  let seconds = 0;
  while (r.next()) {
    if (r.field === 1) seconds = r.uint();
    else r.skip();
  }
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}

/** One entry {key 1, value 2} of a map<string, string> field, added to `into`. */
function mapEntry(r: ProtobufReader, into: Record<string, string>): Record<string, string> {
  let key = '';
  let value = '';
  while (r.next()) {
    if (r.field === 1) key = r.string();
    else if (r.field === 2) value = r.string();
    else r.skip();
  }
  into[key] = value;
  return into;
}

function ownerReference(r: ProtobufReader): Fields {
  const ref: Fields = { apiVersion: '', kind: '', name: '', uid: '' };
  while (r.next()) {
    switch (r.field) {
      case 5: ref.apiVersion = r.string(); break;
      case 1: ref.kind = r.string(); break;
      case 3: ref.name = r.string(); break;
      case 4: ref.uid = r.string(); break;
      case 6: ref.controller = r.bool(); break;
      case 7: ref.blockOwnerDeletion = r.bool(); break;
      default: r.skip();
    }
  }
  return ref;
}

// --- core/v1 Service, Namespace

function service(r: ProtobufReader): Fields {
  const o: Fields = { metadata: {}, spec: {} };
  while (r.next()) {
    if (r.field === 1) o.metadata = objectMeta(r.message());
    else if (r.field === 2) o.spec = serviceSpec(r.message());
    else r.skip();
  }
  return o;
}

function serviceSpec(r: ProtobufReader): Fields {
  const spec: Fields = {};
  while (r.next()) {
    switch (r.field) {
      case 1: ((spec.ports ??= []) as Fields[]).push(servicePort(r.message())); break;
      case 2: spec.selector = mapEntry(r.message(), (spec.selector as Record<string, string> | undefined) ?? {}); break;
      case 3: omitEmpty(spec, 'clusterIP', r.string()); break;
      case 4: omitEmpty(spec, 'type', r.string()); break;
      case 10: omitEmpty(spec, 'externalName', r.string()); break;
      default: r.skip();
    }
  }
  return spec;
}

function servicePort(r: ProtobufReader): Fields {
  const port: Fields = {};
  let portNumber = 0;
  while (r.next()) {
    switch (r.field) {
      case 1: omitEmpty(port, 'name', r.string()); break;
      case 2: omitEmpty(port, 'protocol', r.string()); break;
      case 6: port.appProtocol = r.string(); break;
      case 3: portNumber = r.int32(); break;
      case 4: port.targetPort = intOrString(r.message()); break;
      default: r.skip();
    }
  }
  port.port = portNumber;
  return port;
}

/** util/intstr IntOrString {type 1 (0 int, 1 string), intVal 2, strVal 3}: a number or a string, as its JSON. */
function intOrString(r: ProtobufReader): number | string {
  let type = 0;
  let intVal = 0;
  let strVal = '';
  while (r.next()) {
    switch (r.field) {
      case 1: type = r.uint(); break;
      case 2: intVal = r.int32(); break;
      case 3: strVal = r.string(); break;
      default: r.skip();
    }
  }
  return type === 1 ? strVal : intVal;
}

function namespace(r: ProtobufReader): Fields {
  const o: Fields = { metadata: {} };
  while (r.next()) {
    if (r.field === 1) o.metadata = objectMeta(r.message());
    else r.skip();
  }
  return o;
}

// --- discovery/v1 EndpointSlice

function endpointSlice(r: ProtobufReader): Fields {
  // `endpoints` and `ports` have no omitempty: JSON says null when there are none.
  const o: Fields = { metadata: {}, addressType: '', endpoints: null, ports: null };
  while (r.next()) {
    switch (r.field) {
      case 1: o.metadata = objectMeta(r.message()); break;
      case 4: o.addressType = r.string(); break;
      case 2: ((o.endpoints ??= []) as Fields[]).push(endpoint(r.message())); break;
      case 3: ((o.ports ??= []) as Fields[]).push(endpointPort(r.message())); break;
      default: r.skip();
    }
  }
  return o;
}

function endpoint(r: ProtobufReader): Fields {
  // `addresses` has no omitempty, `conditions` is a struct: JSON always has both.
  const e: Fields = { addresses: null, conditions: {} };
  while (r.next()) {
    switch (r.field) {
      case 1: ((e.addresses ??= []) as string[]).push(r.string()); break;
      case 2: e.conditions = endpointConditions(r.message()); break;
      case 3: e.hostname = r.string(); break;
      case 4: e.targetRef = objectReference(r.message()); break;
      case 6: e.nodeName = r.string(); break;
      case 7: e.zone = r.string(); break;
      default: r.skip();
    }
  }
  return e;
}

function endpointConditions(r: ProtobufReader): Fields {
  const c: Fields = {};
  while (r.next()) {
    switch (r.field) {
      case 1: c.ready = r.bool(); break;
      case 2: c.serving = r.bool(); break;
      case 3: c.terminating = r.bool(); break;
      default: r.skip();
    }
  }
  return c;
}

/** Every field a pointer: kept when the server sent it, even empty. */
function endpointPort(r: ProtobufReader): Fields {
  const p: Fields = {};
  while (r.next()) {
    switch (r.field) {
      case 1: p.name = r.string(); break;
      case 2: p.protocol = r.string(); break;
      case 3: p.port = r.int32(); break;
      case 4: p.appProtocol = r.string(); break;
      default: r.skip();
    }
  }
  return p;
}

function objectReference(r: ProtobufReader): Fields {
  const ref: Fields = {};
  while (r.next()) {
    switch (r.field) {
      case 1: omitEmpty(ref, 'kind', r.string()); break;
      case 2: omitEmpty(ref, 'namespace', r.string()); break;
      case 3: omitEmpty(ref, 'name', r.string()); break;
      case 4: omitEmpty(ref, 'uid', r.string()); break;
      case 5: omitEmpty(ref, 'apiVersion', r.string()); break;
      case 6: omitEmpty(ref, 'resourceVersion', r.string()); break;
      case 7: omitEmpty(ref, 'fieldPath', r.string()); break;
      default: r.skip();
    }
  }
  return ref;
}

// --- networking/v1 Ingress, IngressClass

function ingress(r: ProtobufReader): Fields {
  // spec and status are structs: the JSON always has them.
  const o: Fields = { metadata: {}, spec: {}, status: { loadBalancer: {} } };
  while (r.next()) {
    switch (r.field) {
      case 1: o.metadata = objectMeta(r.message()); break;
      case 2: o.spec = ingressSpec(r.message()); break;
      case 3: o.status = ingressStatus(r.message()); break;
      default: r.skip();
    }
  }
  return o;
}

function ingressSpec(r: ProtobufReader): Fields {
  const spec: Fields = {};
  while (r.next()) {
    switch (r.field) {
      case 4: spec.ingressClassName = r.string(); break;
      case 1: spec.defaultBackend = ingressBackend(r.message()); break;
      case 2: ((spec.tls ??= []) as Fields[]).push(ingressTls(r.message())); break;
      case 3: ((spec.rules ??= []) as Fields[]).push(ingressRule(r.message())); break;
      default: r.skip();
    }
  }
  return spec;
}

/** An IngressRule; its IngressRuleValue (field 2) is inlined in the JSON: `http` sits beside `host`. */
function ingressRule(r: ProtobufReader): Fields {
  const rule: Fields = {};
  while (r.next()) {
    if (r.field === 1) omitEmpty(rule, 'host', r.string());
    else if (r.field === 2) {
      const value = r.message();
      while (value.next()) {
        if (value.field === 1) rule.http = httpRuleValue(value.message());
        else value.skip();
      }
    } else r.skip();
  }
  return rule;
}

function httpRuleValue(r: ProtobufReader): Fields {
  const http: Fields = { paths: null };
  while (r.next()) {
    if (r.field === 1) ((http.paths ??= []) as Fields[]).push(httpIngressPath(r.message()));
    else r.skip();
  }
  return http;
}

function httpIngressPath(r: ProtobufReader): Fields {
  const path: Fields = {};
  let backend: Fields = {};
  while (r.next()) {
    switch (r.field) {
      case 1: omitEmpty(path, 'path', r.string()); break;
      case 3: path.pathType = r.string(); break;
      case 2: backend = ingressBackend(r.message()); break;
      default: r.skip();
    }
  }
  path.backend = backend;
  return path;
}

function ingressBackend(r: ProtobufReader): Fields {
  const backend: Fields = {};
  while (r.next()) {
    switch (r.field) {
      case 4: backend.service = ingressServiceBackend(r.message()); break;
      case 3: backend.resource = typedLocalObjectReference(r.message()); break;
      default: r.skip();
    }
  }
  return backend;
}

function ingressServiceBackend(r: ProtobufReader): Fields {
  const service: Fields = { name: '' };
  let port: Fields = {};
  while (r.next()) {
    if (r.field === 1) service.name = r.string();
    else if (r.field === 2) {
      port = {};
      const p = r.message();
      while (p.next()) {
        if (p.field === 1) omitEmpty(port, 'name', p.string());
        else if (p.field === 2) { const number = p.int32(); if (number !== 0) port.number = number; } else p.skip();
      }
    } else r.skip();
  }
  service.port = port;
  return service;
}

/** core/v1 TypedLocalObjectReference: `apiGroup` is a pointer without omitempty (null when unset). */
function typedLocalObjectReference(r: ProtobufReader): Fields {
  const ref: Fields = { apiGroup: null, kind: '', name: '' };
  while (r.next()) {
    switch (r.field) {
      case 1: ref.apiGroup = r.string(); break;
      case 2: ref.kind = r.string(); break;
      case 3: ref.name = r.string(); break;
      default: r.skip();
    }
  }
  return ref;
}

function ingressTls(r: ProtobufReader): Fields {
  const tls: Fields = {};
  while (r.next()) {
    if (r.field === 1) ((tls.hosts ??= []) as string[]).push(r.string());
    else if (r.field === 2) omitEmpty(tls, 'secretName', r.string());
    else r.skip();
  }
  return tls;
}

function ingressStatus(r: ProtobufReader): Fields {
  const loadBalancer: Fields = {};
  while (r.next()) {
    if (r.field === 1) {
      const lb = r.message();
      while (lb.next()) {
        if (lb.field === 1) ((loadBalancer.ingress ??= []) as Fields[]).push(loadBalancerIngress(lb.message()));
        else lb.skip();
      }
    } else r.skip();
  }
  return { loadBalancer };
}

function loadBalancerIngress(r: ProtobufReader): Fields {
  const entry: Fields = {};
  while (r.next()) {
    switch (r.field) {
      case 1: omitEmpty(entry, 'ip', r.string()); break;
      case 2: omitEmpty(entry, 'hostname', r.string()); break;
      case 4: ((entry.ports ??= []) as Fields[]).push(portStatus(r.message())); break;
      default: r.skip();
    }
  }
  return entry;
}

function portStatus(r: ProtobufReader): Fields {
  const port: Fields = { port: 0, protocol: '' };
  while (r.next()) {
    switch (r.field) {
      case 1: port.port = r.int32(); break;
      case 2: port.protocol = r.string(); break;
      case 3: port.error = r.string(); break;
      default: r.skip();
    }
  }
  return port;
}

function ingressClass(r: ProtobufReader): Fields {
  const o: Fields = { metadata: {} };
  while (r.next()) {
    if (r.field === 1) o.metadata = objectMeta(r.message());
    else if (r.field === 2) {
      const spec: Fields = {};
      const s = r.message();
      while (s.next()) {
        if (s.field === 1) omitEmpty(spec, 'controller', s.string());
        else s.skip();
      }
      o.spec = spec;
    } else r.skip();
  }
  return o;
}

const OBJECT: Partial<Record<Kind, (r: ProtobufReader) => Fields>> = {
  Service: service,
  EndpointSlice: endpointSlice,
  Namespace: namespace,
  Ingress: ingress,
  IngressClass: ingressClass,
};
