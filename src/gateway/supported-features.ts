// The Gateway API features this router implements, by the names of the conformance suite
// (sigs.k8s.io/gateway-api pkg/features, v1.6.3). Written to every GatewayClass of ours as
// status.supportedFeatures, and passed to the conformance run (`npm run conformance:gateway`,
// test/conformance/) as --supported-features: a feature is listed here only when its
// conformance tests pass (conformance/reports/v1.6.3/switchyard/), and the run fails when one
// listed does not.

/** Core features of the GATEWAY-HTTP profile. */
const CORE = ['Gateway', 'HTTPRoute', 'ReferenceGrant'] as const;

/** GATEWAY-GRPC: GRPCRoute (core) and its extended features; served only with HTTP/2 from clients on. */
export const GRPC_FEATURES = ['GRPCRoute', 'GRPCRouteNamedRouteRule'] as const;

/**
 * GATEWAY-TLS: TLSRoute (core) and its Terminate mode (extended). Mixed termination on one port
 * (TLSRouteModeMixed) needs a Gateway address of its own: ADDRESS_POOL_FEATURES.
 */
export const TLS_FEATURES = ['TLSRoute', 'TLSRouteModeTerminate'] as const;

/** Extended features that need a distinct address per Gateway (--gateway-addresses). */
export const ADDRESS_POOL_FEATURES = [
  'GatewayPort8080', 'GatewayHTTPListenerIsolation', 'GatewayStaticAddresses', 'GatewayAddressEmpty',
  'GatewayHTTPSListenerDetectMisdirectedRequests',
  // Its test routes through listeners on several ports.
  'HTTPRouteParentRefPort',
  // Client certificates are checked per Gateway port: on the shared HTTPS port a connection's SNI
  // need not name the host its requests go to (src/gateway/frontend-validation.ts).
  'GatewayFrontendClientCertificateValidation', 'GatewayFrontendClientCertificateValidationInsecureFallback',
  // GATEWAY-TCP (core): TCP listeners need a port each, so an address of their Gateway's own.
  'TCPRoute',
  // Passthrough and Terminate TLS listeners on one port: the SNI selects the listener on a
  // Gateway's own socket; on the shared HTTPS port they are a ProtocolConflict (gateway/listeners.ts).
  'TLSRouteModeMixed',
  // GATEWAY-UDP (core): UDP listeners likewise.
  'UDPRoute',
] as const;

/** Extended features served on the router's shared ports as well (`npm run conformance:gateway -- --shared-ports` checks them). */
const EXTENDED = [
  'HTTPRouteQueryParamMatching',
  'HTTPRouteMethodMatching',
  'HTTPRouteResponseHeaderModification',
  'HTTPRoutePortRedirect',
  'HTTPRouteSchemeRedirect',
  'HTTPRoutePathRedirect',
  'HTTPRouteHostRewrite',
  'HTTPRoutePathRewrite',
  'HTTPRouteRequestTimeout',
  'HTTPRouteDestinationPortMatching',
  'HTTPRouteNamedRouteRule',
  'HTTPRouteBackendProtocolWebSocket',
  'HTTPRouteBackendProtocolH2C',
  'HTTPRoute303RedirectStatusCode',
  'HTTPRoute307RedirectStatusCode',
  'HTTPRoute308RedirectStatusCode',
  'HTTPRouteBackendRequestHeaderModification',
  'HTTPRouteBackendTimeout',
  'HTTPRouteCORS',
  'HTTPRouteRequestMirror',
  'HTTPRouteRequestMultipleMirrors',
  'HTTPRouteRequestPercentageMirror',
  // TLS from the router to backends (gateway/backend-tls.ts).
  'BackendTLSPolicy',
  'BackendTLSPolicySANValidation',
  // The client certificate a Gateway presents to those backends (gateway/backend-client-certificate.ts).
  'GatewayBackendClientCertificate',
  // Listeners added to Gateways by ListenerSets (gateway/listener-sets.ts), served as the Gateway's own.
  'ListenerSet',
] as const;

/**
 * Sorted, as the specification asks of status.supportedFeatures. Features that need an address
 * per Gateway are claimed only when the router has an address pool; GRPCRoute only when HTTP/2
 * from clients is on (a gRPC client needs h2c on HTTP listeners, h2 on HTTPS ones).
 */
export function supportedFeatures(addressPool: boolean, grpc = true): string[] {
  return [...CORE, ...EXTENDED, ...TLS_FEATURES, ...(addressPool ? ADDRESS_POOL_FEATURES : []), ...(grpc ? GRPC_FEATURES : [])].sort();
}
