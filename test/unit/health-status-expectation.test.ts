import test from 'ava';
import { parseStatusExpectation } from '../../src/health/status-expectation.ts';

test('default is 2xx', (t) => {
  const expect = parseStatusExpectation(undefined);
  t.is(expect.text, '2xx');
  t.true(expect.matches(200));
  t.true(expect.matches(299));
  t.false(expect.matches(301));
  t.false(expect.matches(500));
  t.is(parseStatusExpectation([]).text, '2xx');
});

test('classes and exact codes combine', (t) => {
  const expect = parseStatusExpectation(['2xx', '3XX', ' 404 ']);
  t.is(expect.text, '2xx,3xx,404');
  t.true(expect.matches(204));
  t.true(expect.matches(302));
  t.true(expect.matches(404));
  t.false(expect.matches(403));
  t.false(expect.matches(503));
  const only = parseStatusExpectation(['204']);
  t.true(only.matches(204));
  t.false(only.matches(200));
});

test('anything else is a clear error', (t) => {
  t.throws(() => parseStatusExpectation(['2xx', 'ok']), { instanceOf: TypeError, message: /"ok"/ });
  t.throws(() => parseStatusExpectation(['600']), { message: /"600"/ });
  t.throws(() => parseStatusExpectation(['6xx']), { message: /"6xx"/ });
  t.throws(() => parseStatusExpectation(['20']), { message: /"20"/ });
});
