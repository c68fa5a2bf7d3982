import test from 'ava';
import { EndpointState } from '../../src/health/endpoint-state.ts';
import { createPassiveHealth, endEjectionAfterActivePass, PASSIVE_DEFAULTS, recordFailure, recordSuccess } from '../../src/health/passive.ts';

const T0 = 1_700_000_000_000;

function endpoint(): EndpointState {
  return new EndpointState('e1', '10.0.0.1', 8080);
}

test('three failures in a row eject for 5 s; the endpoint is back after the backoff', (t) => {
  const e = endpoint();
  t.false(recordFailure(e, T0));
  t.false(recordFailure(e, T0 + 1));
  t.true(e.available(T0 + 1));
  t.true(recordFailure(e, T0 + 2));
  t.is(e.ejectedUntil, T0 + 2 + PASSIVE_DEFAULTS.baseMs);
  t.is(e.ejectedAt, T0 + 2);
  t.false(e.available(T0 + 2));
  t.false(e.available(T0 + 2 + 4_999));
  t.true(e.available(T0 + 2 + 5_000));
});

test('a success in between resets the count', (t) => {
  const e = endpoint();
  recordFailure(e, T0);
  recordFailure(e, T0);
  recordSuccess(e, T0);
  t.is(e.consecutiveFailures, 0);
  t.false(recordFailure(e, T0));
  t.false(recordFailure(e, T0));
  t.true(e.available(T0));
});

test('backoff doubles with each ejection in a row and is capped at 5 minutes', (t) => {
  const passive = createPassiveHealth();
  const e = endpoint();
  let now = T0;
  const backoffs: number[] = [];
  for (let round = 0; round < 9; round++) {
    passive.recordFailure(e, now);
    passive.recordFailure(e, now);
    t.true(passive.recordFailure(e, now));
    backoffs.push(e.ejectedUntil - now);
    now = e.ejectedUntil; // back, and fails again straight away
  }
  t.deepEqual(backoffs, [5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000]);
});

test('serving successfully after an ejection resets the backoff', (t) => {
  const passive = createPassiveHealth({ threshold: 1, baseMs: 100, maxMs: 1000 });
  const e = endpoint();
  t.true(passive.recordFailure(e, T0));
  t.true(passive.recordFailure(e, T0 + 100));
  t.is(e.ejectedUntil, T0 + 300);
  // a late success of a request sent before the ejection does not count
  passive.recordSuccess(e, T0 + 150);
  t.is(e.ejections, 2);
  passive.recordSuccess(e, T0 + 300);
  t.is(e.ejections, 0);
  t.true(passive.recordFailure(e, T0 + 400));
  t.is(e.ejectedUntil, T0 + 500);
});

test('failures while ejected do not eject again or grow the backoff', (t) => {
  const passive = createPassiveHealth({ threshold: 2, baseMs: 1000 });
  const e = endpoint();
  passive.recordFailure(e, T0);
  t.true(passive.recordFailure(e, T0));
  for (let i = 0; i < 10; i++) t.false(passive.recordFailure(e, T0 + 10 + i));
  t.is(e.ejectedUntil, T0 + 1000);
  t.is(e.ejections, 1);
  // after it returns, it takes `threshold` new failures again
  t.false(passive.recordFailure(e, T0 + 1000));
  t.true(passive.recordFailure(e, T0 + 1001));
  t.is(e.ejectedUntil, T0 + 1001 + 2000);
});

test('an active check that started after the ejection ends it early; an older one does not', (t) => {
  const passive = createPassiveHealth({ threshold: 1, baseMs: 10_000 });
  const e = endpoint();
  passive.recordFailure(e, T0);
  t.false(endEjectionAfterActivePass(e, T0 - 1, T0 + 50), 'probe started before the ejection');
  t.false(e.available(T0 + 50));
  t.true(endEjectionAfterActivePass(e, T0 + 10, T0 + 60));
  t.true(e.available(T0 + 60));
  t.false(endEjectionAfterActivePass(e, T0 + 70, T0 + 80), 'nothing to end');
});

test('options are validated', (t) => {
  t.throws(() => createPassiveHealth({ threshold: 0 }), { message: /threshold/ });
  t.throws(() => createPassiveHealth({ baseMs: 1.5 }), { message: /baseMs/ });
});

test('panic threshold: the last available endpoint is never ejected; it is as soon as another is back', (t) => {
  const passive = createPassiveHealth();
  const e = endpoint();
  for (let i = 0; i < 10; i++) t.false(passive.recordFailure(e, T0 + i, true));
  t.true(e.available(T0 + 10));
  t.true(passive.recordFailure(e, T0 + 11, false));
  t.false(e.available(T0 + 11));
});
