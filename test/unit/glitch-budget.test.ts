// Glitch budgets (src/proxy/tls/glitch-budget.ts) on a manual clock: the burst, the refill at a
// tenth of the budget per second, the client penalty until half the budget is back, and the
// ledger forgetting clients whose budget is whole again.
import test from 'ava';
import { GLITCH_PERIOD_MS, GlitchBucket, LocalGlitchLedger } from '../../src/proxy/tls/glitch-budget.ts';
import { SharedGlitchLedger } from '../../src/proxy/tls/shared-glitch-ledger.ts';
import { LimitTable } from '../../src/shared-memory/limit-table.ts';
import { ManualClock } from '../support/manual-clock.ts';

test('a bucket spends its burst, then regains a tenth of its budget per second', (t) => {
  const clock = new ManualClock();
  const bucket = new GlitchBucket(20, clock.now());
  for (let i = 0; i < 20; i++) t.true(bucket.spend(clock.now()), `glitch ${i + 1}`);
  t.false(bucket.spend(clock.now()));
  clock.advance(499); // 0.998 of a token back
  t.false(bucket.spend(clock.now()));
  clock.advance(1); // one whole
  t.true(bucket.spend(clock.now()));
  t.false(bucket.spend(clock.now()));
  clock.advance(GLITCH_PERIOD_MS * 5);
  t.true(bucket.full(clock.now()), 'never more than the budget');
  for (let i = 0; i < 20; i++) t.true(bucket.spend(clock.now()));
  t.false(bucket.spend(clock.now()));
});

test('a client that ran out is refused until it has regained half its budget', (t) => {
  const clock = new ManualClock();
  const ledger = new LocalGlitchLedger(100, clock);
  t.false(ledger.exhausted('192.0.2.1'), 'an unknown client is not');
  for (let i = 0; i < 100; i++) t.true(ledger.spend('192.0.2.1'));
  t.false(ledger.exhausted('192.0.2.1'), 'spent to zero but never refused a glitch yet');
  t.false(ledger.spend('192.0.2.1'));
  t.true(ledger.exhausted('192.0.2.1'));
  t.false(ledger.exhausted('192.0.2.2'), 'other clients are not');
  clock.advance(4_900); // 49 tokens back
  t.true(ledger.exhausted('192.0.2.1'));
  clock.advance(100); // 50
  t.false(ledger.exhausted('192.0.2.1'));
  t.true(ledger.spend('192.0.2.1'));
});

test('the ledger forgets clients whose budget is whole again', (t) => {
  const clock = new ManualClock();
  const ledger = new LocalGlitchLedger(10, clock);
  for (let i = 0; i < 50; i++) ledger.spend(`198.51.100.${i}`);
  t.is(ledger.size, 50);
  clock.advance(GLITCH_PERIOD_MS);
  ledger.spend('203.0.113.1');
  t.is(ledger.size, 1);
});

test('the shared ledger: the same budget rules, and two views of one table (two worker threads) spend one budget', (t) => {
  const clock = new ManualClock();
  const table = LimitTable.create();
  const ledger = new SharedGlitchLedger(table, 'https', 100, clock);
  t.false(ledger.exhausted('192.0.2.1'), 'an unknown client is not');
  for (let i = 0; i < 100; i++) t.true(ledger.spend('192.0.2.1'));
  t.false(ledger.exhausted('192.0.2.1'), 'spent to zero but never refused a glitch yet');
  t.false(ledger.spend('192.0.2.1'));
  t.true(ledger.exhausted('192.0.2.1'));
  t.false(ledger.exhausted('192.0.2.2'), 'other clients are not');
  clock.advance(4_900); // 49 tokens back
  t.true(ledger.exhausted('192.0.2.1'));
  clock.advance(100); // 50
  t.false(ledger.exhausted('192.0.2.1'));
  t.true(ledger.spend('192.0.2.1'));

  const one = new SharedGlitchLedger(new LimitTable(table.buffer), 'https', 10, clock);
  const other = new SharedGlitchLedger(new LimitTable(table.buffer), 'https', 10, clock);
  for (let i = 0; i < 5; i++) t.true(one.spend('198.51.100.7'));
  for (let i = 0; i < 5; i++) t.true(other.spend('198.51.100.7'));
  t.false(one.spend('198.51.100.7'), 'ten spent over both: none left for either');
  t.true(other.exhausted('198.51.100.7'));
  const gateways = new SharedGlitchLedger(table, 'gateway-addresses', 10, clock);
  t.true(gateways.spend('198.51.100.7'), 'another ledger name is another budget');
});
