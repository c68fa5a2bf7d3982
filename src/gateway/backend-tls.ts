// BackendTLSPolicy (gateway.networking.k8s.io/v1): TLS from the router to a Service's endpoints.
// Evaluated as a whole from the store, with the Gateway evaluation (evaluate.ts):
// - each policy's validation: CA certificates from core ConfigMaps of its namespace (`ca.crt`,
//   PEM) or `wellKnownCACertificates: System` (the system roots), the hostname (SNI, and the name
//   verified unless subjectAltNames are given, which are then verified instead);
// - conflicts: per Service and sectionName (a port name, or none for the whole Service), the
//   oldest policy (creationTimestamp, then namespace/name) applies, the others are Conflicted; a
//   policy naming the port wins over one naming the whole Service for that port;
// - what a route's backendRef gets (rule-parts.ts): the TLS to speak, or a refusal when the
//   policy that applies is not usable (its requests are then answered 5xx, as the spec asks);
// - the status: per policy, one ancestor per Gateway whose routes use a Service it targets.

import { X509Certificate } from 'node:crypto';
import { GATEWAY_CONTROLLER_NAME, GATEWAY_GROUP, type BackendTLSPolicy } from '../objects/gateway-types.ts';
import { creationMillis } from '../objects/types.ts';
import { pemCertificates } from '../proxy/tls/pem.ts';
import type { ObjectStore } from '../store.ts';
import type { BackendTls } from '../table/types.ts';
import { condition, type ConditionData } from './conditions.ts';

export interface PolicyStatusData {
  namespace: string;
  name: string;
  generation: number | undefined;
  ancestors: Array<{ ancestorRef: { group: string; kind: string; namespace: string; name: string }; controllerName: string; conditions: ConditionData[] }>;
}

/** What a backendRef to a Service port gets: TLS, a refusal (why), or nothing (cleartext). */
export type BackendTlsVerdict = { tls: BackendTls } | { refused: string } | null;

interface PolicyState {
  policy: BackendTLSPolicy;
  key: string;
  accepted: ConditionData;
  resolvedRefs: ConditionData;
  /** The TLS it asks for when usable; null when no CA certificate is. */
  tls: BackendTls | null;
  conflicted: boolean;
  /** Gateways (`namespace/name`) whose routes use a Service it targets. */
  ancestors: Set<string>;
}

/** The PEM certificates of a `ca.crt` that parse, or an error message. */
function caBundle(text: string | undefined, what: string): string | { error: string } {
  if (text === undefined) return { error: `${what} has no ca.crt` };
  const blocks = pemCertificates(text);
  if (blocks.length === 0) return { error: `${what}: ca.crt holds no PEM certificate` };
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch (err) {
      return { error: `${what}: ca.crt does not parse: ${(err as Error).message}` };
    }
  }
  return blocks.join('\n');
}

function evaluatePolicy(policy: BackendTLSPolicy, store: ObjectStore): PolicyState {
  const namespace = policy.metadata.namespace ?? 'default';
  const key = `${namespace}/${policy.metadata.name}`;
  const v = policy.spec?.validation;
  const state: PolicyState = {
    policy, key, conflicted: false, ancestors: new Set(), tls: null,
    accepted: condition('Accepted', true, 'Accepted', 'accepted by switchyard'),
    resolvedRefs: condition('ResolvedRefs', true, 'ResolvedRefs', 'all references resolved'),
  };
  const hostname = v?.hostname ?? '';
  const sans = (v?.subjectAltNames ?? []).map((s) => (s.type === 'URI' ? { type: 'URI' as const, value: s.uri ?? '' } : { type: 'Hostname' as const, value: (s.hostname ?? '').toLowerCase() }));
  const refs = v?.caCertificateRefs ?? [];
  if (refs.length === 0) {
    if (v?.wellKnownCACertificates !== 'System') {
      state.accepted = condition('Accepted', false, 'Invalid', `wellKnownCACertificates ${JSON.stringify(v?.wellKnownCACertificates ?? '')} is not supported (only System)`);
      return state;
    }
    state.tls = { policy: key, ca: null, serverName: hostname, subjectAltNames: sans };
    return state;
  }
  const bundles: string[] = [];
  for (const ref of refs) {
    if ((ref.group ?? '') !== '' || ref.kind !== 'ConfigMap') {
      if (state.resolvedRefs.status === 'True') state.resolvedRefs = condition('ResolvedRefs', false, 'InvalidKind', `caCertificateRef ${ref.group ? `${ref.group}/` : ''}${ref.kind} ${ref.name}: only ConfigMaps are supported`);
      continue;
    }
    const configMap = store.get('ConfigMap', `${namespace}/${ref.name}`);
    const bundle = configMap === undefined ? { error: `ConfigMap ${namespace}/${ref.name} not found` } : caBundle(configMap.data?.['ca.crt'], `ConfigMap ${namespace}/${ref.name}`);
    if (typeof bundle === 'string') bundles.push(bundle);
    else if (state.resolvedRefs.status === 'True') state.resolvedRefs = condition('ResolvedRefs', false, 'InvalidCACertificateRef', `caCertificateRef ${bundle.error}`);
  }
  if (bundles.length === 0) {
    state.accepted = condition('Accepted', false, 'NoValidCACertificate', `no valid CA certificate: ${state.resolvedRefs.message}`);
    return state;
  }
  state.tls = { policy: key, ca: bundles.join('\n'), serverName: hostname, subjectAltNames: sans };
  return state;
}

/** The spec's precedence: older first, then `namespace/name`. */
function compareAge(a: PolicyState, b: PolicyState): number {
  const age = (creationMillis(a.policy.metadata) ?? Number.MAX_SAFE_INTEGER) - (creationMillis(b.policy.metadata) ?? Number.MAX_SAFE_INTEGER);
  if (age !== 0) return age;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

export class BackendTlsPolicies {
  readonly #store: ObjectStore;
  readonly #states: PolicyState[] = [];
  /** By `namespace/name`: addAncestors runs per route. */
  readonly #byKey = new Map<string, PolicyState>();
  /** The policy that applies, by `namespace/service#sectionName` ('' for the whole Service). */
  readonly #winners = new Map<string, PolicyState>();
  /** Every policy targeting a Service (`namespace/service`). */
  readonly #byService = new Map<string, PolicyState[]>();

  constructor(store: ObjectStore) {
    this.#store = store;
    const byTarget = new Map<string, PolicyState[]>();
    for (const policy of store.list('BackendTLSPolicy')) {
      const state = evaluatePolicy(policy, store);
      this.#states.push(state);
      this.#byKey.set(state.key, state);
      const namespace = policy.metadata.namespace ?? 'default';
      for (const ref of policy.spec?.targetRefs ?? []) {
        if ((ref.group ?? '') !== '' || ref.kind !== 'Service') continue;
        const service = `${namespace}/${ref.name}`;
        const target = `${service}#${ref.sectionName ?? ''}`;
        let list = byTarget.get(target);
        if (!list) byTarget.set(target, (list = []));
        if (!list.includes(state)) list.push(state);
        let all = this.#byService.get(service);
        if (!all) this.#byService.set(service, (all = []));
        if (!all.includes(state)) all.push(state);
      }
    }
    for (const [target, list] of byTarget) {
      list.sort(compareAge);
      this.#winners.set(target, list[0]!);
      for (const loser of list.slice(1)) loser.conflicted = true;
    }
    for (const s of this.#states) {
      if (s.conflicted) s.accepted = condition('Accepted', false, 'Conflicted', 'an older BackendTLSPolicy targets the same Service and sectionName');
    }
  }

  /**
   * The TLS a backendRef to `namespace/service` port `port` gets; `used` collects the keys of the
   * policies that target that Service (their ancestors are the route's Gateways).
   */
  forBackend(namespace: string, service: string, port: number, used: Set<string>): BackendTlsVerdict {
    const serviceKey = `${namespace}/${service}`;
    const all = this.#byService.get(serviceKey);
    if (all === undefined) return null;
    for (const s of all) used.add(s.key);
    const portName = this.#store.get('Service', serviceKey)?.spec?.ports?.find((p) => p.port === port)?.name;
    const winner = (portName ? this.#winners.get(`${serviceKey}#${portName}`) : undefined) ?? this.#winners.get(`${serviceKey}#`);
    if (winner === undefined) return null;
    if (winner.tls === null) return { refused: `BackendTLSPolicy ${winner.key} is not usable: ${winner.accepted.message}` };
    return { tls: winner.tls };
  }

  /** A route using these policies is served through these Gateways. */
  addAncestors(policies: Iterable<string>, gateways: Iterable<string>): void {
    const list = [...gateways];
    if (list.length === 0) return;
    for (const key of policies) {
      const state = this.#byKey.get(key);
      if (state) for (const g of list) state.ancestors.add(g);
    }
  }

  /** Status of every policy used through a Gateway of ours (others get none from this router). */
  statuses(): Map<string, PolicyStatusData> {
    const out = new Map<string, PolicyStatusData>();
    for (const s of this.#states) {
      if (s.ancestors.size === 0) continue;
      out.set(s.key, {
        namespace: s.policy.metadata.namespace ?? 'default', name: s.policy.metadata.name, generation: s.policy.metadata.generation,
        ancestors: [...s.ancestors].sort().map((g) => {
          const slash = g.indexOf('/');
          return {
            ancestorRef: { group: GATEWAY_GROUP, kind: 'Gateway', namespace: g.slice(0, slash), name: g.slice(slash + 1) },
            controllerName: GATEWAY_CONTROLLER_NAME,
            conditions: [s.accepted, s.resolvedRefs],
          };
        }),
      });
    }
    return out;
  }
}
