// Loopback addresses for the benchmarks' many endpoints (all of 127.0.0.0/8 is this host's):
// `pods` — the endpoints of bench:scale's pod-like routes, 127.64.0.1 on (254 per /24, no .0 or
// .255); `health` — the health-check targets, 127.2.x.y.

export type AddressScheme = 'pods' | 'health';

export function benchAddress(scheme: AddressScheme, i: number): string {
  if (scheme === 'health') return `127.2.${(i >> 8) & 255}.${i & 255}`;
  const block = Math.floor(i / 254);
  return `127.${64 + (block >> 8)}.${block & 255}.${1 + (i % 254)}`;
}
