// The status writer's window (src/status/write-window.ts): grows by one per window of fast
// answers, shrinks by a quarter on a slow one (the API server queueing), halves on a refusal;
// cut once per round, as TCP's congestion window.

import test from 'ava';
import { WriteWindow } from '../../src/status/write-window.ts';

test('fast answers grow the window by about one per window\'s worth, up to its maximum', (t) => {
  const window = new WriteWindow({ initial: 4, max: 6, slowMs: 1000 });
  t.is(window.limit, 4);
  for (let i = 0; i < 4; i++) window.answered(0, 20);
  t.is(window.limit, 4); // 4 + 4 × 1/4.x: just under 5
  window.answered(0, 20);
  t.is(window.limit, 5);
  for (let i = 0; i < 100; i++) window.answered(0, 20);
  t.is(window.limit, 6);
});

test('a slow answer (queued by the server) shrinks it by a quarter, never below one', (t) => {
  const window = new WriteWindow({ initial: 8, slowMs: 500 });
  window.answered(1000, 1600);
  t.is(window.limit, 6);
  for (let i = 0; i < 20; i++) window.answered(2000 + i * 3000, 4000 + i * 3000);
  t.is(window.limit, 1);
});

test('a refusal halves it, once for all the writes of one round', (t) => {
  const window = new WriteWindow({ initial: 16 });
  // Eight writes started at 1000 are all refused around 1050: one cut.
  for (let i = 0; i < 8; i++) window.refused(1000, 1050 + i);
  t.is(window.limit, 8);
  // A write started after that cut and refused too: the next round, cut again.
  window.refused(1100, 1150);
  t.is(window.limit, 4);
  for (let i = 0; i < 10; i++) window.refused(2000 + i * 100, 2050 + i * 100);
  t.is(window.limit, 1);
});
