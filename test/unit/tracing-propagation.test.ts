// Trace-context propagation, case by case from the W3C Trace Context Recommendation (the rules
// its test suite checks: versions, id and flag syntax, OWS, duplicated and combined headers,
// tracestate keys, values, member count and truncation) and from the B3 specification.
import test from 'ava';
import { formatTraceparent, parseTraceparent, parseTracestate, truncateMembers, isTracestateKey, W3CTraceState, TRACESTATE_MAX_LENGTH } from '../../src/tracing/trace-context.ts';
import { parseB3Multi, parseB3Single } from '../../src/tracing/b3.ts';
import { Propagation } from '../../src/tracing/propagation.ts';

const TRACE = '12345678901234567890123456789012';
const SPAN = '1234567890123456';
const VALID = `00-${TRACE}-${SPAN}-01`;

test('a valid version-00 traceparent is read: trace id, parent id, flags', (t) => {
  t.deepEqual(parseTraceparent(VALID), { traceId: TRACE, spanId: SPAN, traceFlags: 1 });
  t.deepEqual(parseTraceparent(`00-${TRACE}-${SPAN}-00`), { traceId: TRACE, spanId: SPAN, traceFlags: 0 });
  // Flags other than sampled are carried in version 00.
  t.is(parseTraceparent(`00-${TRACE}-${SPAN}-03`)!.traceFlags, 3);
});

test('leading and trailing OWS (space, tab) around traceparent is allowed', (t) => {
  for (const v of [` ${VALID}`, `\t${VALID}`, `${VALID} `, `${VALID}\t`, `\t ${VALID} \t`]) {
    t.is(parseTraceparent(v)?.traceId, TRACE, JSON.stringify(v));
  }
});

test('version 00 with anything after the flags is invalid', (t) => {
  t.is(parseTraceparent(`${VALID}.`), null);
  t.is(parseTraceparent(`${VALID}-what-the-future-will-be-like`), null);
});

test('a future version is read by its first four fields when what follows starts with a dash', (t) => {
  t.is(parseTraceparent(`cc-${TRACE}-${SPAN}-01`)?.traceId, TRACE);
  t.is(parseTraceparent(`cc-${TRACE}-${SPAN}-01-what-the-future-will-be-like`)?.traceId, TRACE);
  t.is(parseTraceparent(`cc-${TRACE}-${SPAN}-01.what-the-future-will-be-like`), null);
  // Of a later version only the sampled bit is known.
  t.is(parseTraceparent(`cc-${TRACE}-${SPAN}-ff`)?.traceFlags, 1);
});

test('version ff, illegal characters and wrong lengths in the version are invalid', (t) => {
  for (const version of ['ff', '.0', '0.', '000', '0000', '0', 'CC', 'Cc']) {
    t.is(parseTraceparent(`${version}-${TRACE}-${SPAN}-01`), null, version);
  }
});

test('trace id: all zeros, illegal characters, uppercase hex, too long, too short are invalid', (t) => {
  for (const id of ['00000000000000000000000000000000', '.2345678901234567890123456789012', '1234567890123456789012345678901.',
    '123456789012345678901234567890123', '1234567890123456789012345678901', 'ABCDEF78901234567890123456789012', '12345678901234567890123456789ABC']) {
    t.is(parseTraceparent(`00-${id}-${SPAN}-01`), null, id);
  }
});

test('parent id: all zeros, illegal characters, uppercase hex, too long, too short are invalid', (t) => {
  for (const id of ['0000000000000000', '.234567890123456', '123456789012345.', '12345678901234567', '123456789012345', 'ABCDEF7890123456']) {
    t.is(parseTraceparent(`00-${TRACE}-${id}-01`), null, id);
  }
});

test('trace flags: illegal characters, uppercase, too long, too short are invalid', (t) => {
  for (const flags of ['.0', '0.', '001', '1', '0A']) t.is(parseTraceparent(`00-${TRACE}-${SPAN}-${flags}`), null, flags);
});

test('two traceparent header lines (Node joins them) or an array are invalid', (t) => {
  t.is(parseTraceparent(`${VALID}, 00-${TRACE.replace('1', '3')}-${SPAN}-01`), null);
  t.is(parseTraceparent([VALID, VALID]), null);
  t.is(parseTraceparent(undefined), null);
  t.is(parseTraceparent(''), null);
});

test('the router writes version 00 with two lowercase hex flag digits', (t) => {
  t.is(formatTraceparent(TRACE, SPAN, 1), VALID);
  t.is(formatTraceparent(TRACE, SPAN, 0), `00-${TRACE}-${SPAN}-00`);
  t.is(formatTraceparent(TRACE, SPAN, 0xab), `00-${TRACE}-${SPAN}-ab`);
});

test('tracestate: members are kept in order, OWS and empty members ignored, header lines combined', (t) => {
  t.deepEqual(parseTracestate('foo=1,bar=2')!.members, ['foo=1', 'bar=2']);
  t.deepEqual(parseTracestate('foo=1 \t , \t bar=2, \t baz=3')!.members, ['foo=1', 'bar=2', 'baz=3']);
  t.deepEqual(parseTracestate('\t foo=1 \t')!.members, ['foo=1']);
  // Node joins repeated tracestate lines with ", ": an empty line leaves an empty member.
  t.deepEqual(parseTracestate('foo=1,bar=2, rojo=1,congo=2, baz=3')!.serialize(), 'foo=1,bar=2,rojo=1,congo=2,baz=3');
  t.deepEqual(parseTracestate('foo=1, ')!.members, ['foo=1']);
  t.deepEqual(parseTracestate(', foo=1')!.members, ['foo=1']);
  t.deepEqual(parseTracestate(['foo=1', 'bar=2'])!.members, ['foo=1', 'bar=2']);
  t.is(parseTracestate(''), null);
  t.is(parseTracestate(' , '), null);
  t.is(parseTracestate(undefined), null);
});

test('tracestate: every character the grammar allows is kept', (t) => {
  const keyChars = 'abcdefghijklmnopqrstuvwxyz0123456789_-*/';
  let value = '';
  for (let c = 0x20; c <= 0x7e; c++) if (c !== 0x2c && c !== 0x3d) value += String.fromCharCode(c);
  t.is(parseTracestate(`${keyChars}=${value}`)!.get(keyChars), value);
  t.is(parseTracestate(`${keyChars}@a-z0-9_-*/=${value}`)!.get(`${keyChars}@a-z0-9_-*/`), value);
});

test('tracestate: a duplicated key discards the whole header', (t) => {
  t.is(parseTracestate('foo=1,foo=1'), null);
  t.is(parseTracestate('foo=1,foo=2'), null);
  t.is(parseTracestate('foo=1, foo=2'), null); // two header lines
});

test('tracestate: an illegal key discards the whole header', (t) => {
  for (const ts of ['foo =1', 'FOO=1', 'foo.bar=1', 'foo@=1,bar=2', '@foo=1,bar=2', 'foo@@bar=1,bar=2', 'foo@bar@baz=1,bar=2', '1foo=1', '=1', 'foo@1bar=1']) {
    t.is(parseTracestate(ts), null, ts);
  }
});

test('tracestate: key length limits (256 simple; 241 tenant, 14 system)', (t) => {
  t.truthy(parseTracestate(`foo=1,${'z'.repeat(256)}=1`));
  t.is(parseTracestate(`foo=1,${'z'.repeat(257)}=1`), null);
  t.true(isTracestateKey(`${'t'.repeat(241)}@${'v'.repeat(14)}`));
  t.false(isTracestateKey(`${'t'.repeat(242)}@v`));
  t.false(isTracestateKey(`t@${'v'.repeat(15)}`));
  // A multi-tenant key's tenant may start with a digit; a simple key may not.
  t.true(isTracestateKey('1tenant@vendor'));
});

test('tracestate: an illegal value discards the whole header', (t) => {
  for (const ts of ['foo=bar=baz', 'foo=,bar=3', 'foo=1\u00e9', `foo=${'x'.repeat(257)}`, 'foo']) t.is(parseTracestate(ts), null, ts);
  // A value may contain spaces, just not end with one (trailing OWS belongs to the list).
  t.is(parseTracestate('foo=a b')!.get('foo'), 'a b');
});

test('tracestate: 32 members are kept, 33 discard the whole header', (t) => {
  const members = Array.from({ length: 33 }, (_, i) => `bar${String(i + 1).padStart(2, '0')}=${i + 1}`);
  t.is(parseTracestate(members.slice(0, 32).join(','))!.members.length, 32);
  t.is(parseTracestate(members.join(',')), null);
});

test('tracestate over 512 characters is truncated: members over 128 characters go first, then from the end', (t) => {
  const long = `long=${'l'.repeat(200)}`;
  const small = Array.from({ length: 20 }, (_, i) => `k${String(i).padStart(2, '0')}=${'v'.repeat(20)}`); // 24 characters each
  const state = parseTracestate([small[0], long, ...small.slice(1)].join(','))!;
  t.true(state.serialize().length <= TRACESTATE_MAX_LENGTH);
  t.false(state.members.includes(long), 'the long member went first');
  t.deepEqual(state.members, small, '20 short members fit (499 characters)');
  // Without long members, members are dropped from the end until the rest fits.
  const many = Array.from({ length: 30 }, (_, i) => `k${String(i).padStart(2, '0')}=${'v'.repeat(20)}`);
  const cut = parseTracestate(many.join(','))!;
  t.deepEqual(cut.members, many.slice(0, 20));
  t.true(cut.serialize().length <= TRACESTATE_MAX_LENGTH);
  // Under the limit, nothing changes.
  t.deepEqual(truncateMembers(['a=1', 'b=2']), ['a=1', 'b=2']);
});

test('W3CTraceState serves as an OpenTelemetry TraceState: set moves the key to the front, unset removes it', (t) => {
  const state = new W3CTraceState(['a=1', 'b=2']);
  t.is(state.set('b', '3').serialize(), 'b=3,a=1');
  t.is(state.set('c', '4').serialize(), 'c=4,a=1,b=2');
  t.is(state.unset('a').serialize(), 'b=2');
  t.is(state.set('BAD', '1'), state, 'an invalid key changes nothing');
  t.is(state.get('b'), '2');
  t.is(state.get('z'), undefined);
});

test('b3 single header: 128- and 64-bit trace ids, sampling states, parent span id', (t) => {
  t.deepEqual(parseB3Single(`${TRACE}-${SPAN}-1`), { traceId: TRACE, spanId: SPAN, traceFlags: 1 });
  t.deepEqual(parseB3Single(`${TRACE}-${SPAN}-0-${SPAN}`), { traceId: TRACE, spanId: SPAN, traceFlags: 0 });
  t.deepEqual(parseB3Single(`${TRACE}-${SPAN}-d`), { traceId: TRACE, spanId: SPAN, traceFlags: 1 });
  t.deepEqual(parseB3Single(`${TRACE}-${SPAN}`), { traceId: TRACE, spanId: SPAN, traceFlags: 0 }, 'deferred: continued unsampled');
  t.deepEqual(parseB3Single(`${SPAN}-${SPAN}-1`), { traceId: `0000000000000000${SPAN}`, spanId: SPAN, traceFlags: 1 });
  for (const bad of ['0', '1', 'd', `${TRACE}-${SPAN}-2`, `${TRACE}-0000000000000000-1`, `${TRACE.slice(1)}-${SPAN}-1`, `${TRACE}-${SPAN}-1-xyz`, `${TRACE}-${SPAN}-1-${SPAN}-x`]) {
    t.is(parseB3Single(bad), null, bad);
  }
});

test('b3 multi headers: sampled 1/true, debug flag, invalid ids', (t) => {
  t.deepEqual(parseB3Multi({ 'x-b3-traceid': TRACE, 'x-b3-spanid': SPAN, 'x-b3-sampled': '1' }), { traceId: TRACE, spanId: SPAN, traceFlags: 1 });
  t.is(parseB3Multi({ 'x-b3-traceid': TRACE, 'x-b3-spanid': SPAN, 'x-b3-sampled': 'true' })!.traceFlags, 1);
  t.is(parseB3Multi({ 'x-b3-traceid': TRACE, 'x-b3-spanid': SPAN, 'x-b3-flags': '1' })!.traceFlags, 1);
  t.is(parseB3Multi({ 'x-b3-traceid': TRACE, 'x-b3-spanid': SPAN, 'x-b3-sampled': '0' })!.traceFlags, 0);
  t.is(parseB3Multi({ 'x-b3-traceid': TRACE }), null);
  t.is(parseB3Multi({ 'x-b3-traceid': TRACE, 'x-b3-spanid': 'nothex0123456789' }), null);
});

test('Propagation: the first configured format present wins; tracestate rides with traceparent only', (t) => {
  const w3c = new Propagation(['tracecontext', 'baggage']);
  const parent = w3c.extract({ traceparent: VALID, tracestate: 'foo=1' })!;
  t.is(parent.traceId, TRACE);
  t.is(parent.traceState!.serialize(), 'foo=1');
  t.is(w3c.extract({ tracestate: 'foo=1' }), null);
  t.is(w3c.extract({ b3: `${TRACE}-${SPAN}-1` }), null, 'B3 is off by default');
  t.is(w3c.extract({ traceparent: `00-${TRACE}-${SPAN}-01`, tracestate: 'FOO=1' })!.traceState, undefined, 'an invalid tracestate is dropped, the parent kept');

  const both = new Propagation(['tracecontext', 'b3multi']);
  const other = '22222222222222222222222222222222';
  t.is(both.extract({ 'x-b3-traceid': other, 'x-b3-spanid': SPAN, 'x-b3-sampled': '1' })!.traceId, other);
  t.is(both.extract({ traceparent: VALID, 'x-b3-traceid': other, 'x-b3-spanid': SPAN })!.traceId, TRACE);
  t.is(both.extract({ traceparent: 'garbage', 'x-b3-traceid': other, 'x-b3-spanid': SPAN })!.traceId, other);
});

test('Propagation: inject writes every configured format; strip removes what the client sent, baggage stays', (t) => {
  const p = new Propagation(['tracecontext', 'baggage', 'b3', 'b3multi']);
  const list = ['host', 'a', 'traceparent', VALID, 'tracestate', 'x=1', 'baggage', 'k=v', 'b3', '1', 'x-b3-sampled', '1', 'x-b3-flags', '1'];
  p.strip(list);
  t.deepEqual(list, ['host', 'a', 'baggage', 'k=v']);
  p.inject(list, TRACE, 'abcdefabcdefabcd', 1, new W3CTraceState(['x=1']));
  t.deepEqual(list.slice(4), [
    'traceparent', `00-${TRACE}-abcdefabcdefabcd-01`, 'tracestate', 'x=1',
    'b3', `${TRACE}-abcdefabcdefabcd-1`,
    'x-b3-traceid', TRACE, 'x-b3-spanid', 'abcdefabcdefabcd', 'x-b3-sampled', '1',
  ]);
  const none = new Propagation(['none']);
  t.false(none.enabled);
  const kept = ['traceparent', VALID];
  none.strip(kept);
  t.deepEqual(kept, ['traceparent', VALID], 'with no format, trace headers are the client\'s');
});
