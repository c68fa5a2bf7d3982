import test from 'ava';
import { findStickyMember, isValidCookieName, stickyCookie } from '../../src/balance/sticky-cookie.ts';
import type { Member } from '../../src/balance/types.ts';
import { EndpointState } from '../../src/health/endpoint-state.ts';

const NOW = 1_700_000_000_000;

function member(id: string, weight = 1, acceptsNew = true): Member {
  return { endpoint: new EndpointState(id, '10.0.0.7', 8080), weight, acceptsNew };
}

const a = member('3f2a9c01');
const b = member('77be0d42');
const members = [a, b];

test('finds the member named by the cookie wherever it sits in the header', (t) => {
  t.is(findStickyMember('route-x=77be0d42', 'route-x', members, NOW), b);
  t.is(findStickyMember('theme=dark; route-x=3f2a9c01; lang=en', 'route-x', members, NOW), a);
  t.is(findStickyMember('theme=dark;route-x=77be0d42', 'route-x', members, NOW), b);
  t.is(findStickyMember('theme=dark;  route-x = 77be0d42 ', 'route-x', members, NOW), null, 'space before = is not this cookie');
  t.is(findStickyMember('theme=dark;  route-x=77be0d42 ', 'route-x', members, NOW), b);
  t.is(findStickyMember('route-x="3f2a9c01"', 'route-x', members, NOW), a);
});

test('does not match a cookie whose name merely ends or starts with the name', (t) => {
  t.is(findStickyMember('myroute-x=3f2a9c01', 'route-x', members, NOW), null);
  t.is(findStickyMember('route-xy=3f2a9c01', 'route-x', members, NOW), null);
  t.is(findStickyMember('other=route-x=3f2a9c01', 'route-x', members, NOW), null);
  t.is(findStickyMember('myroute-x=zzz; route-x=77be0d42', 'route-x', members, NOW), b);
});

test('a value must equal an endpoint id exactly', (t) => {
  t.is(findStickyMember('route-x=3f2a9c0', 'route-x', members, NOW), null);
  t.is(findStickyMember('route-x=3f2a9c011', 'route-x', members, NOW), null);
  t.is(findStickyMember('route-x=', 'route-x', members, NOW), null);
  t.is(findStickyMember('route-x=10.0.0.7:8080', 'route-x', members, NOW), null);
});

test('missing header, missing cookie, no members → null', (t) => {
  t.is(findStickyMember(undefined, 'route-x', members, NOW), null);
  t.is(findStickyMember('', 'route-x', members, NOW), null);
  t.is(findStickyMember('a=b; c=d', 'route-x', members, NOW), null);
  t.is(findStickyMember('route-x=3f2a9c01', 'route-x', [], NOW), null);
  t.is(findStickyMember('route-x=3f2a9c01', '', members, NOW), null);
});

test('a gone, down, ejected or terminating endpoint → null, so the balancer chooses again', (t) => {
  t.is(findStickyMember('route-x=deadbeef', 'route-x', members, NOW), null);
  const down = member('aa000001');
  down.endpoint.activeUp = false;
  t.is(findStickyMember('route-x=aa000001', 'route-x', [down], NOW), null);
  const ejected = member('aa000002');
  ejected.endpoint.ejectedUntil = NOW + 5000;
  t.is(findStickyMember('route-x=aa000002', 'route-x', [ejected], NOW), null);
  t.is(findStickyMember('route-x=aa000002', 'route-x', [ejected], NOW + 5000), ejected, 'back after the ejection');
  const terminating = member('aa000003', 1, false);
  t.is(findStickyMember('route-x=aa000003', 'route-x', [terminating], NOW), null);
});

test('weight 0 keeps existing sessions (HAProxy semantics)', (t) => {
  const drained = member('aa000004', 0);
  t.is(findStickyMember('route-x=aa000004', 'route-x', [drained], NOW), drained);
});

test('stickyCookie sets HttpOnly and Path, plus Secure and SameSite=None over HTTPS', (t) => {
  t.is(stickyCookie('route-x', '3f2a9c01', false), 'route-x=3f2a9c01; Path=/; HttpOnly');
  t.is(stickyCookie('route-x', '3f2a9c01', true), 'route-x=3f2a9c01; Path=/; HttpOnly; Secure; SameSite=None');
  // round trip
  const value = stickyCookie('route-x', b.endpoint.id, true).split(';')[0];
  t.is(findStickyMember(`x=1; ${value}`, 'route-x', members, NOW), b);
});

test('isValidCookieName accepts tokens only', (t) => {
  t.true(isValidCookieName('route-x'));
  t.true(isValidCookieName('a1b2c3d4e5'));
  t.false(isValidCookieName(''));
  t.false(isValidCookieName('a b'));
  t.false(isValidCookieName('a;b'));
  t.false(isValidCookieName('a=b'));
});

test('long member lists are looked up by index, with the same answers', (t) => {
  const many = Array.from({ length: 40 }, (_, i) => member(`id${String(i).padStart(6, '0')}`));
  many[7].endpoint.activeUp = false;
  t.is(findStickyMember('route-x=id000031', 'route-x', many, NOW), many[31]);
  t.is(findStickyMember('route-x=id000031', 'route-x', many, NOW), many[31], 'second lookup uses the cached index');
  t.is(findStickyMember('route-x=id000007', 'route-x', many, NOW), null, 'down');
  t.is(findStickyMember('route-x=id000099', 'route-x', many, NOW), null, 'gone');
  t.is(findStickyMember('route-x="id000002"', 'route-x', many, NOW), many[2]);
});

test('cookie-same-site: Lax/Strict on both schemes; None only with Secure', (t) => {
  t.is(stickyCookie('c', 'id1', true, 'Strict'), 'c=id1; Path=/; HttpOnly; Secure; SameSite=Strict');
  t.is(stickyCookie('c', 'id1', false, 'Lax'), 'c=id1; Path=/; HttpOnly; SameSite=Lax');
  t.is(stickyCookie('c', 'id1', false, 'None'), 'c=id1; Path=/; HttpOnly');
  t.is(stickyCookie('c', 'id1', true, null), 'c=id1; Path=/; HttpOnly; Secure; SameSite=None');
});
