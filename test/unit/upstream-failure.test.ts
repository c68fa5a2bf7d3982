// The one classification of upstream failures: what counts for passive ejection.
import test from 'ava';
import net from 'node:net';
import { Client, errors } from 'undici';
import { classifyUpstreamFailure, InvalidUpstreamResponseError } from '../../src/proxy/upstream-failure.ts';
import { freePort } from '../support/ports.ts';

test('a refused connection (real socket, through undici) is a connect failure and counts', async (t) => {
  const port = await freePort();
  const client = new Client(`http://127.0.0.1:${port}`);
  const err = await client.request({ path: '/', method: 'GET' }).catch((e: unknown) => e);
  await client.close();
  const failure = classifyUpstreamFailure(err);
  t.is(failure.reason, 'connect');
  t.true(failure.endpointFault);
});

test('a reset mid-exchange (real socket) is a reset and counts', async (t) => {
  const server = net.createServer((s) => s.once('data', () => s.resetAndDestroy()));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = new Client(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
  const err = await client.request({ path: '/', method: 'GET' }).catch((e: unknown) => e);
  await client.close();
  server.close();
  const failure = classifyUpstreamFailure(err);
  t.is(failure.reason, 'reset');
  t.true(failure.endpointFault);
});

test('OPTIONS * refused by undici is the router\'s own error, not the endpoint\'s', async (t) => {
  const client = new Client('http://127.0.0.1:9');
  const err = await client.request({ path: '*', method: 'OPTIONS' }).catch((e: unknown) => e);
  await client.close();
  t.true(err instanceof errors.InvalidArgumentError);
  const failure = classifyUpstreamFailure(err);
  t.is(failure.reason, 'router');
  t.false(failure.endpointFault);
  t.is(failure.error.status, 400);
});

test('timeouts count; protocol, TLS and client errors do not', (t) => {
  t.true(classifyUpstreamFailure(new errors.HeadersTimeoutError()).endpointFault);
  t.true(classifyUpstreamFailure(new errors.BodyTimeoutError()).endpointFault);
  t.true(classifyUpstreamFailure(new errors.ConnectTimeoutError()).endpointFault);
  t.true(classifyUpstreamFailure(Object.assign(new Error('x'), { code: 'EHOSTUNREACH' })).endpointFault);
  t.is(classifyUpstreamFailure(Object.assign(new Error('x'), { code: 'EHOSTUNREACH' })).reason, 'connect');
  t.false(classifyUpstreamFailure(new errors.SocketError('bad response')).endpointFault);
  t.false(classifyUpstreamFailure(new InvalidUpstreamResponseError('099')).endpointFault);
  t.false(classifyUpstreamFailure(Object.assign(new Error('x'), { code: 'HPE_INVALID_STATUS' })).endpointFault);
  t.false(classifyUpstreamFailure(Object.assign(new Error('x'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' })).endpointFault);
  t.false(classifyUpstreamFailure(new errors.RequestContentLengthMismatchError()).endpointFault);
  t.false(classifyUpstreamFailure(new Error('who knows')).endpointFault);
});
