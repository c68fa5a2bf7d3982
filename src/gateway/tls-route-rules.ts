// A TLSRoute's rule → plain data: a TLSRoute chooses a stream by the SNI of its ClientHello
// alone (its hostnames), so its one rule (v1 allows exactly one) becomes a single match-all
// "match" whose backendRefs are resolved to Services like an HTTPRoute's (kind, ReferenceGrant
// across namespaces, existence, port) with the spec's weights. ResolvedRefs follows; a stream
// whose share of weight belongs to invalid refs is refused (the connection closed). A TCPRoute's
// one rule is the same (it has no hostnames: its listener alone chooses it), and so is a UDPRoute's.

import type { TCPRoute, TLSRoute, UDPRoute } from '../objects/gateway-types.ts';
import type { MatchData, RuleData } from '../route-candidate.ts';
import { condition } from './conditions.ts';
import type { RouteRulesResult } from './route-rules.ts';
import { resolveBackendRefs, ResolvedRefs, Unsupported, type RuleInputs } from './rule-parts.ts';

/** Every stream of the host: no path, method or header exists below TLS. */
const STREAM_MATCH: MatchData = Object.freeze({ path: '', match: 'prefix', method: null, headers: [], query: [], patterns: null, grpc: null }) as MatchData;

export function evaluateTlsRouteRules(route: TLSRoute | TCPRoute | UDPRoute, inputs: RuleInputs): RouteRulesResult {
  const namespace = route.metadata.namespace ?? 'default';
  const refs = new ResolvedRefs();
  try {
    const rules: RuleData[] = (route.spec?.rules ?? []).slice(0, 1).map((r, index) => {
      const resolved = resolveBackendRefs(r.backendRefs ?? [], { kind: route.kind, namespace }, inputs, refs);
      return {
        index, matches: [STREAM_MATCH], backends: resolved.backends, invalidShare: resolved.invalidShare,
        requestHeaders: null, responseHeaders: null, redirect: null, rewrite: null, timeoutMs: null, middlewares: [],
      };
    });
    if (rules.length === 0) refs.unresolved('BackendNotFound', 'the route has no rule, so no backend');
    return { rules, unsupported: null, resolvedRefs: refs.condition, services: [...refs.services] };
  } catch (err) {
    if (!(err instanceof Unsupported)) throw err;
    return { rules: [], unsupported: condition('Accepted', false, err.reason, err.message), resolvedRefs: refs.condition, services: [...refs.services] };
  }
}
