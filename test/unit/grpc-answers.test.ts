// The gRPC helpers the router answers gRPC calls with (src/proxy/grpc.ts): what counts as a gRPC
// request, the HTTP-to-gRPC status mapping, the catalogue's errors as gRPC statuses,
// grpc-message encoding and grpc-timeout parsing — checked against the gRPC spec's rules.
import test from 'ava';
import { ProxyErrors } from '../../src/errors.ts';
import { encodeGrpcMessage, grpcStatusForError, grpcStatusForHttp, GrpcStatus, isGrpcContentType, parseGrpcTimeout } from '../../src/proxy/grpc.ts';

test('gRPC content types: application/grpc and its +suffix and ;parameter forms; not gRPC-Web, not others', (t) => {
  for (const v of ['application/grpc', 'application/grpc+proto', 'application/grpc+json', 'application/grpc; charset=x']) t.true(isGrpcContentType(v), v);
  for (const v of [undefined, '', 'application/grpc-web', 'application/grpc-web+proto', 'application/json', 'text/plain', 'application/grp']) t.false(isGrpcContentType(v), String(v));
});

test('HTTP status to gRPC status, as the gRPC spec maps them', (t) => {
  t.is(grpcStatusForHttp(400), GrpcStatus.INTERNAL);
  t.is(grpcStatusForHttp(401), GrpcStatus.UNAUTHENTICATED);
  t.is(grpcStatusForHttp(403), GrpcStatus.PERMISSION_DENIED);
  t.is(grpcStatusForHttp(404), GrpcStatus.UNIMPLEMENTED);
  for (const s of [429, 502, 503, 504]) t.is(grpcStatusForHttp(s), GrpcStatus.UNAVAILABLE);
  t.is(grpcStatusForHttp(418), GrpcStatus.UNKNOWN);
});

test('every catalogue error has a gRPC status; the specific ones say more than their HTTP status', (t) => {
  for (const [name, spec] of Object.entries(ProxyErrors)) t.true(Number.isInteger(grpcStatusForError(spec)) && grpcStatusForError(spec) > 0, name);
  t.is(grpcStatusForError(ProxyErrors.NO_ENDPOINT), GrpcStatus.UNAVAILABLE);
  t.is(grpcStatusForError(ProxyErrors.UPSTREAM_TIMEOUT), GrpcStatus.DEADLINE_EXCEEDED);
  t.is(grpcStatusForError(ProxyErrors.GRPC_DEADLINE), GrpcStatus.DEADLINE_EXCEEDED);
  t.is(grpcStatusForError(ProxyErrors.RATE_LIMITED), GrpcStatus.RESOURCE_EXHAUSTED);
  t.is(grpcStatusForError(ProxyErrors.MIDDLEWARE_ERROR), GrpcStatus.INTERNAL);
  t.is(grpcStatusForError(ProxyErrors.NO_ROUTE), GrpcStatus.UNIMPLEMENTED);
});

test('grpc-message is percent-encoded UTF-8: printable ASCII but % as is', (t) => {
  t.is(encodeGrpcMessage('no endpoint: 100% down'), 'no endpoint: 100%25 down');
  t.is(encodeGrpcMessage('café\n'), 'caf%C3%A9%0A');
});

test('grpc-timeout: 1-8 digits and a unit; anything else is ignored', (t) => {
  t.is(parseGrpcTimeout('200m'), 200);
  t.is(parseGrpcTimeout('5S'), 5000);
  t.is(parseGrpcTimeout('2M'), 120_000);
  t.is(parseGrpcTimeout('1H'), 3_600_000);
  t.is(parseGrpcTimeout('1500u'), 2);
  t.is(parseGrpcTimeout('1000000n'), 1);
  for (const v of [undefined, '', '10', '123456789m', '1.5S', '10s', '-1m']) t.is(parseGrpcTimeout(v), null, String(v));
});
