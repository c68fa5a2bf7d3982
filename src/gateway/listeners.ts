// A Gateway's listeners mapped onto the router. A Gateway with an address of its own (from
// --gateway-addresses) gets its listeners bound there, on their own ports. Without one it shares
// the router's ports: HTTP on --http-port and HTTPS and TLS on --https-port, so a listener is
// accepted only with protocol HTTP on the HTTP port or HTTPS (TLS mode Terminate) or TLS on the
// HTTPS port; any other port is PortUnavailable. Any other protocol is UnsupportedProtocol.
// TLS listeners take TLSRoutes: mode Passthrough pipes the stream as it comes (no certificate),
// mode Terminate decrypts it with the listener's certificateRefs and pipes the plain stream.
// Both modes on one port of a Gateway (TLSRouteModeMixed) are served on Gateways with an address
// of their own: a connection's SNI selects the listener, and so the mode, as for one mode alone;
// on the router's shared HTTPS port, where streams are not told apart by listener, they are a
// ProtocolConflict. Listeners of one Gateway that are not distinct (same
// port and protocol and hostname, or same port with different protocols) are all Conflicted —
// none is picked as the winner. HTTPS certificateRefs must name kubernetes.io/tls Secrets, in
// another namespace only with a ReferenceGrant. HTTPS listeners check client certificates as
// spec.tls.frontend says (frontend-validation.ts), on Gateways with an address of their own only:
// on the shared HTTPS port a connection's SNI need not name the host its requests go to.
// TCP listeners take TCPRoutes, on Gateways with an address of their own only (a port each; on
// the router's shared ports a TCP listener is UnsupportedProtocol). They name no hostname and no
// TLS (the CRD refuses both; a file may not): such a listener is UnsupportedValue. UDP listeners
// are the same for UDPRoutes; a TCP and a UDP listener on one port are distinct (the spec's
// "mixture of TCP and UDP listeners").

import { checkSecretCertificate, secretKeyPair } from '../objects/tls-certificates.ts';
import { GATEWAY_GROUP, type Gateway, type GatewayRouteKind, type Listener } from '../objects/gateway-types.ts';
import type { ConfigMap, Secret } from '../objects/types.ts';
import { condition, type ConditionData } from './conditions.ts';
import { frontendValidationOf, resolveFrontendValidation, type ClientValidation, type FrontendResult } from './frontend-validation.ts';
import { normalizeHostname, validHostname } from './hostnames.ts';
import { referenceAllowed, type GrantLookup } from './reference-grant.ts';

export interface RouterPorts { http: number; https: number }

export interface ListenerState {
  name: string;
  /** `namespace/gateway/listener` */
  key: string;
  /** Normalised; '' = any host. */
  hostname: string;
  protocol: string;
  port: number;
  /** Served: attachable, and its references (certificates) resolved. */
  usable: boolean;
  /** Routes may attach (accepted, allows a route kind), even if it cannot be served yet (references unresolved). */
  attachable: boolean;
  /** The route kinds that may attach: what allowedRoutes.kinds permits (default: every kind served) of those served. */
  kinds: GatewayRouteKind[];
  namespaces: NonNullable<NonNullable<Listener['allowedRoutes']>['namespaces']>;
  /** HTTPS, TLS Terminate: the certificate served for this listener's hosts. */
  certificate: { cert: string; key: string } | null;
  /** TLS listeners: how their streams are served. */
  tlsMode: 'Passthrough' | 'Terminate' | null;
  /** HTTPS: the client-certificate validation of its port (spec.tls.frontend); null = none. */
  clientValidation: ClientValidation | null;
  /** HTTPS: `namespace/name` of the Secrets read (a change re-evaluates the Gateway). */
  secrets: string[];
  supportedKinds: Array<{ group: string; kind: string }>;
  conditions: ConditionData[];
  attachedRoutes: number;
}

export interface ListenerInputs {
  /** The router's shared ports; null when the Gateway has an address of its own (any port then). */
  ports: RouterPorts | null;
  grants: GrantLookup;
  secret(key: string): Secret | undefined;
  configMap(key: string): ConfigMap | undefined;
  now?: number;
  /** GRPCRoutes can be served (HTTP/2 from clients is on: not --disable-http2). Default true. */
  grpc?: boolean;
}

function key(l: Listener): string {
  return `${l.port}/${l.protocol}/${normalizeHostname(l.hostname)}`;
}

export interface ListenerConflict { reason: string; message: string }

/** TLS listeners of both modes may share a port (TLSRouteModeMixed): on a Gateway's own address only, where the SNI selects the listener. */
export function mixedTlsModes(inputs: ListenerInputs): boolean {
  return inputs.ports === null;
}

/**
 * Why listener `a` cannot be served beside `b` (`what`: how `b` is named in the message), or null
 * when they are distinct. `mixedTls`: Passthrough and Terminate may share the port (mixedTlsModes).
 */
export function listenerConflict(a: Listener, b: Listener, what = `listener ${b.name}`, mixedTls = false): ListenerConflict | null {
  if (a.port !== b.port) return null;
  // TCP and UDP share port numbers without sharing a socket.
  if ((a.protocol === 'TCP' && b.protocol === 'UDP') || (a.protocol === 'UDP' && b.protocol === 'TCP')) return null;
  if (a.protocol !== b.protocol) return { reason: 'ProtocolConflict', message: `${what} uses port ${b.port} with protocol ${b.protocol}` };
  if (!mixedTls && a.protocol === 'TLS' && (a.tls?.mode ?? 'Terminate') !== (b.tls?.mode ?? 'Terminate')) {
    return { reason: 'ProtocolConflict', message: `${what} uses port ${b.port} with TLS mode ${b.tls?.mode ?? 'Terminate'}` };
  }
  // TCP listeners are told apart by port alone (a hostname means nothing to them).
  if (a.protocol === 'TCP' || a.protocol === 'UDP') return { reason: 'HostnameConflict', message: `${what} is a ${a.protocol} listener on the same port` };
  if (key(a) === key(b)) return { reason: 'HostnameConflict', message: `${what} has the same port, protocol and hostname` };
  return null;
}

/** Reasons a listener conflicts with another of the same list (no winner among them), by listener index. */
export function conflictsOf(listeners: readonly Listener[], mixedTls = false): Map<number, ListenerConflict> {
  const out = new Map<number, ListenerConflict>();
  for (let i = 0; i < listeners.length; i++) {
    for (let j = 0; j < listeners.length; j++) {
      if (i === j) continue;
      const conflict = listenerConflict(listeners[i]!, listeners[j]!, undefined, mixedTls);
      // A hostname conflict is the one reported when there are both.
      if (conflict !== null && (conflict.reason === 'HostnameConflict' || !out.has(i))) out.set(i, conflict);
    }
  }
  return out;
}

/** Who declares a listener: its Gateway, or a ListenerSet attached to it (ReferenceGrants are asked from that kind and namespace). */
export interface ListenerOwner { kind: 'Gateway' | 'ListenerSet'; namespace: string }

function resolveCertificates(owner: ListenerOwner, l: Listener, inputs: ListenerInputs, state: ListenerState): ConditionData {
  const namespace = owner.namespace;
  const refs = l.tls?.certificateRefs ?? [];
  if (refs.length === 0) return condition('ResolvedRefs', false, 'InvalidCertificateRef', `an ${l.protocol} listener that terminates TLS needs tls.certificateRefs`);
  for (const ref of refs) {
    const group = ref.group ?? '';
    const kind = ref.kind ?? 'Secret';
    const ns = ref.namespace ?? namespace;
    if ((group !== '' && group !== 'core') || kind !== 'Secret') {
      return condition('ResolvedRefs', false, 'InvalidCertificateRef', `certificateRef ${kind} ${ref.name}: only core Secrets are supported`);
    }
    if (!referenceAllowed(inputs.grants, { group: GATEWAY_GROUP, kind: owner.kind, namespace }, { group: '', kind: 'Secret', namespace: ns, name: ref.name })) {
      return condition('ResolvedRefs', false, 'RefNotPermitted', `Secret ${ns}/${ref.name} is in another namespace and no ReferenceGrant there allows it`);
    }
    const secretKey = `${ns}/${ref.name}`;
    state.secrets.push(secretKey);
    const secret = inputs.secret(secretKey);
    const check = checkSecretCertificate(secret, secretKey, undefined, inputs.now);
    if (!check.ok) return condition('ResolvedRefs', false, 'InvalidCertificateRef', check.message);
    state.certificate ??= secretKeyPair(secret!);
  }
  return condition('ResolvedRefs', true, 'ResolvedRefs', 'references resolved');
}

/** `gatewayKey`: `namespace/name` of the Gateway (listener keys are `namespace/name/listener`). */
export function evaluateListeners(gateway: Gateway, inputs: ListenerInputs, gatewayKey = `${gateway.metadata.namespace ?? 'default'}/${gateway.metadata.name}`): ListenerState[] {
  const listeners = gateway.spec?.listeners ?? [];
  return evaluateListenerList(gateway, listeners, conflictsOf(listeners, mixedTlsModes(inputs)), { kind: 'Gateway', namespace: gateway.metadata.namespace ?? 'default' }, gatewayKey, inputs);
}

/**
 * Listeners of `gateway` declared by `owner` (the Gateway itself or a ListenerSet), with the
 * conflicts found for them (by index); keys are `keyPrefix/listener`. Client-certificate
 * validation is the Gateway's, per port, whoever declares the listener.
 */
export function evaluateListenerList(
  gateway: Gateway, listeners: readonly Listener[], conflicts: ReadonlyMap<number, ListenerConflict>, owner: ListenerOwner, keyPrefix: string, inputs: ListenerInputs,
): ListenerState[] {
  // The validation is the port's: its CA bundles are read and parsed once per port, not per listener.
  const frontendByPort = new Map<number, FrontendResult>();
  return listeners.map((l, index) => {
    const state: ListenerState = {
      name: l.name, key: `${keyPrefix}/${l.name}`, hostname: normalizeHostname(l.hostname), protocol: l.protocol, port: l.port,
      usable: false, attachable: false, kinds: [], namespaces: l.allowedRoutes?.namespaces ?? { from: 'Same' },
      certificate: null, clientValidation: null, tlsMode: null, secrets: [], supportedKinds: [], conditions: [], attachedRoutes: 0,
    };
    let accepted = condition('Accepted', true, 'Accepted', 'listener accepted');
    let resolved = condition('ResolvedRefs', true, 'ResolvedRefs', 'references resolved');
    // Kinds: HTTPRoute, and GRPCRoute while HTTP/2 from clients is on (a gRPC client needs h2
    // on HTTPS listeners and h2c on HTTP ones); allowedRoutes.kinds may narrow them.
    // TLS listeners: TLSRoutes (streams chosen by SNI), nothing else; TCP listeners: TCPRoutes;
    // UDP listeners: UDPRoutes.
    const tls = l.protocol === 'TLS';
    const udp = l.protocol === 'UDP';
    // TCP and UDP listeners: a port each, no hostname, no TLS; only the route kind differs.
    const tcp = l.protocol === 'TCP' || udp;
    if (tls) state.tlsMode = l.tls?.mode ?? 'Terminate';
    const served: GatewayRouteKind[] = tls ? ['TLSRoute'] : udp ? ['UDPRoute'] : tcp ? ['TCPRoute'] : inputs.grpc === false ? ['HTTPRoute'] : ['HTTPRoute', 'GRPCRoute'];
    const kinds = l.allowedRoutes?.kinds;
    if (l.protocol === 'HTTP' || l.protocol === 'HTTPS' || tls || tcp) {
      if (kinds === undefined || kinds.length === 0) {
        state.kinds = served;
      } else {
        const invalid = kinds.filter((k) => !((k.group ?? GATEWAY_GROUP) === GATEWAY_GROUP && (served as string[]).includes(k.kind)));
        state.kinds = served.filter((kind) => kinds.some((k) => (k.group ?? GATEWAY_GROUP) === GATEWAY_GROUP && k.kind === kind));
        if (invalid.length > 0) {
          const why = inputs.grpc === false && invalid.some((k) => k.kind === 'GRPCRoute') ? ' (GRPCRoute needs HTTP/2, which --disable-http2 turns off)' : '';
          resolved = condition('ResolvedRefs', false, 'InvalidRouteKinds', `unsupported route kinds: ${invalid.map((k) => k.kind).join(', ')}${why}`);
        }
      }
      state.supportedKinds = state.kinds.map((kind) => ({ group: GATEWAY_GROUP, kind }));
    }
    const conflict = conflicts.get(index);
    // A conflict first: the listener is not served whatever else it asks for.
    if (conflict) {
      accepted = condition('Accepted', false, conflict.reason, conflict.message);
    } else if (l.protocol !== 'HTTP' && l.protocol !== 'HTTPS' && !tls && !tcp) {
      accepted = condition('Accepted', false, 'UnsupportedProtocol', `protocol ${l.protocol} is not supported (HTTP, HTTPS, TLS, TCP and UDP are)`);
    } else if (tcp && inputs.ports !== null) {
      accepted = condition('Accepted', false, 'UnsupportedProtocol', `${l.protocol} listeners need a Gateway address of their own (--gateway-addresses): the router's shared ports serve HTTP and HTTPS`);
    } else if (tcp && ((l.hostname !== undefined && l.hostname !== '') || l.tls !== undefined)) {
      accepted = condition('Accepted', false, 'UnsupportedValue', `a ${l.protocol} listener takes neither a hostname nor tls`);
    } else if (l.hostname !== undefined && l.hostname !== '' && !validHostname(state.hostname)) {
      accepted = condition('Accepted', false, 'UnsupportedValue', 'hostname is not a valid DNS name or wildcard');
    } else if (inputs.ports !== null && l.port !== (l.protocol === 'HTTP' ? inputs.ports.http : inputs.ports.https)) {
      accepted = condition('Accepted', false, 'PortUnavailable',
        `this router serves ${l.protocol} on port ${l.protocol === 'HTTP' ? inputs.ports.http : inputs.ports.https}, not ${l.port} (Gateways get ports of their own with --gateway-addresses)`);
    } else if (l.protocol === 'HTTPS' && (l.tls?.mode ?? 'Terminate') !== 'Terminate') {
      accepted = condition('Accepted', false, 'UnsupportedValue', 'HTTPS listeners support TLS mode Terminate only');
    } else if (tls && state.tlsMode !== 'Passthrough' && state.tlsMode !== 'Terminate') {
      accepted = condition('Accepted', false, 'UnsupportedValue', `TLS mode ${String(state.tlsMode)} is not supported (Passthrough and Terminate are)`);
    } else if (l.protocol === 'HTTPS' && inputs.ports !== null && frontendValidationOf(gateway, l.port) !== undefined) {
      accepted = condition('Accepted', false, 'UnsupportedValue',
        'client certificate validation (spec.tls.frontend) needs a Gateway address of its own (--gateway-addresses): on the shared HTTPS port a connection may carry requests for other hosts');
    }
    let frontendOk = true;
    if (l.protocol === 'HTTPS' && accepted.status === 'True') {
      let frontend = frontendByPort.get(l.port);
      if (frontend === undefined) frontendByPort.set(l.port, (frontend = resolveFrontendValidation(gateway, l.port, inputs)));
      state.clientValidation = frontend.validation;
      if (frontend.accepted !== null) accepted = frontend.accepted;
      if (frontend.resolved !== null && resolved.status === 'True') resolved = frontend.resolved;
      frontendOk = frontend.accepted === null;
    }
    let certificatesOk = true;
    // A passthrough listener never holds a key: its certificateRefs, if any, are not read.
    if (l.protocol === 'HTTPS' || (tls && state.tlsMode === 'Terminate')) {
      const certs = resolveCertificates(owner, l, inputs, state);
      certificatesOk = certs.status === 'True';
      if (!certificatesOk || resolved.status === 'True') resolved = certs;
    }
    const conflicted = conflict
      ? condition('Conflicted', true, conflict.reason, conflict.message)
      : condition('Conflicted', false, 'NoConflicts', 'no conflicts');
    // An unsupported kind next to a served one is reported (InvalidRouteKinds) but the served kinds still attach.
    state.attachable = accepted.status === 'True' && state.kinds.length > 0;
    // A listener that is not accepted (a conflict, an unsupported value or port) serves no kind.
    if (accepted.status !== 'True') state.supportedKinds = [];
    state.usable = state.attachable && certificatesOk && frontendOk;
    const programmed = state.usable
      ? condition('Programmed', true, 'Programmed', 'served by the router')
      : condition('Programmed', false, conflict ? conflict.reason : 'Invalid', accepted.status === 'True' ? resolved.message : accepted.message);
    state.conditions = [accepted, programmed, resolved, conflicted];
    return state;
  });
}
