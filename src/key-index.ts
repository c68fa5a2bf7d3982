// An index from a key to the keys filed under it, for indexes where nearly every key has one:
// the value is the single key itself, and a Set only from the second on (an empty Set is ~180
// bytes; the store's slices-by-Service and the controller's hosts-by-object indexes have one
// entry per Service of the cluster).

export type KeyIndex = Map<string, string | Set<string>>;

export function addTo(index: KeyIndex, key: string, value: string): void {
  const values = index.get(key);
  if (values === undefined) index.set(key, value);
  else if (typeof values === 'string') { if (values !== value) index.set(key, new Set([values, value])); }
  else values.add(value);
}

export function removeFrom(index: KeyIndex, key: string, value: string): void {
  const values = index.get(key);
  if (values === value) index.delete(key);
  else if (typeof values === 'object') {
    values.delete(value);
    if (values.size === 1) index.set(key, values.values().next().value!);
  }
}

/** The keys filed under `key` (none: an empty list). */
export function valuesOf(index: KeyIndex, key: string): Iterable<string> {
  const values = index.get(key);
  return values === undefined ? NONE : typeof values === 'string' ? [values] : values;
}

const NONE: readonly string[] = Object.freeze([]);
