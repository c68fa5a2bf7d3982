// Objects with exactly their own fields inside them. V8 gives an object made as `{}` room for
// four fields in itself and puts the rest in a separate properties array (16 bytes and more
// per object); an object literal with N fields holds all N in itself. The narrowed objects are
// made field by field (only the fields present), and one is kept per Route, Service and
// EndpointSlice for as long as they exist, so they are made here by a literal: one small maker
// function per distinct list of field names, compiled once and reused.

type Maker = (values: readonly unknown[]) => Record<string, unknown>;

const makers = new Map<string, Maker>();
/** Distinct field lists are few (the narrowing's own key lists); past this, objects are made the plain way. */
const MAKERS_LIMIT = 512;
const FIELDS_LIMIT = 24;

/**
 * `{ [keys[i]]: values[i] }` as one object literal. The keys are the narrowing's own field names
 * (never `__proto__`, which a literal would take as the prototype: such a list is made the plain way).
 */
export function exactRecord(keys: readonly string[], values: readonly unknown[]): Record<string, unknown> {
  const signature = keys.join('\n');
  let make = makers.get(signature);
  if (make === undefined) {
    if (makers.size >= MAKERS_LIMIT || keys.length > FIELDS_LIMIT || keys.includes('__proto__')) return plainRecord(keys, values);
    // JSON.stringify of a string is a valid JavaScript string literal: no key can break out of it.
    make = new Function('v', `return { ${keys.map((k, i) => `${JSON.stringify(k)}: v[${i}]`).join(', ')} };`) as Maker;
    makers.set(signature, make);
  }
  return make(values);
}

function plainRecord(keys: readonly string[], values: readonly unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    // An assignment to __proto__ would set the prototype: an own field is defined instead.
    if (key === '__proto__') Object.defineProperty(out, key, { value: values[i], writable: true, enumerable: true, configurable: true });
    else out[key] = values[i];
  }
  return out;
}
