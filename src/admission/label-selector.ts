// Kubernetes label selectors in their string form (`kubectl get -l`): `a=b`, `a==b`, `a!=b`,
// `a in (x,y)`, `a notin (x)`, `a` (exists), `!a` (does not exist); comma means AND.
// Used for --route-labels and --namespace-labels. Parsed once at startup; an invalid selector
// throws LabelSelectorError so the CLI can refuse to start instead of serving the wrong shard.

export class LabelSelectorError extends Error {
  override name = 'LabelSelectorError';
}

type Requirement =
  | { op: 'eq' | 'neq'; key: string; value: string }
  | { op: 'in' | 'notin'; key: string; values: ReadonlySet<string> }
  | { op: 'exists' | 'absent'; key: string };

export interface LabelSelector {
  /** The selector as written (for logs). */
  readonly text: string;
  /** True for the empty selector, which selects everything. */
  readonly empty: boolean;
  matches(labels: Readonly<Record<string, string>> | undefined): boolean;
}

// Label keys: optional DNS prefix + '/' + name; values: ≤ 63 chars of [A-Za-z0-9-_.], alnum at the ends.
const KEY_NAME = /^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/;
const KEY_PREFIX = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const VALUE = /^([A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?$/;

function checkKey(key: string, text: string): string {
  const slash = key.indexOf('/');
  const name = slash === -1 ? key : key.slice(slash + 1);
  const prefix = slash === -1 ? null : key.slice(0, slash);
  if (!KEY_NAME.test(name) || (prefix !== null && (prefix.length > 253 || !KEY_PREFIX.test(prefix)))) {
    throw new LabelSelectorError(`invalid label selector "${text}": invalid label key "${key}"`);
  }
  return key;
}

function checkValue(value: string, text: string): string {
  if (!VALUE.test(value)) throw new LabelSelectorError(`invalid label selector "${text}": invalid label value "${value}"`);
  return value;
}

/** Split on commas that are not inside parentheses. */
function splitTerms(text: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') {
      depth--;
      if (depth < 0) throw new LabelSelectorError(`invalid label selector "${text}": unbalanced ")"`);
    } else if (c === ',' && depth === 0) {
      terms.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) throw new LabelSelectorError(`invalid label selector "${text}": unbalanced "("`);
  terms.push(text.slice(start));
  return terms.map((t) => t.trim());
}

function parseTerm(term: string, text: string): Requirement {
  if (term === '') throw new LabelSelectorError(`invalid label selector "${text}": empty requirement`);
  const set = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(term);
  if (set) {
    const values = set[3]!.split(',').map((v) => checkValue(v.trim(), text));
    if (set[3]!.trim() === '') throw new LabelSelectorError(`invalid label selector "${text}": "${set[2]}" needs at least one value`);
    return { op: set[2] as 'in' | 'notin', key: checkKey(set[1]!, text), values: new Set(values) };
  }
  const cmp = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term);
  if (cmp) {
    return { op: cmp[2] === '!=' ? 'neq' : 'eq', key: checkKey(cmp[1]!, text), value: checkValue(cmp[3]!, text) };
  }
  const absent = /^!\s*(\S+)$/.exec(term);
  if (absent) return { op: 'absent', key: checkKey(absent[1]!, text) };
  if (/^\S+$/.test(term)) return { op: 'exists', key: checkKey(term, text) };
  throw new LabelSelectorError(`invalid label selector "${text}": cannot parse "${term}"`);
}

function matchesRequirement(req: Requirement, labels: Readonly<Record<string, string>>): boolean {
  const has = Object.hasOwn(labels, req.key);
  const value = has ? labels[req.key] : undefined;
  switch (req.op) {
    case 'eq': return has && value === req.value;
    // Kubernetes: `!=` and `notin` also match objects without the label.
    case 'neq': return !has || value !== req.value;
    case 'in': return has && req.values.has(value!);
    case 'notin': return !has || !req.values.has(value!);
    case 'exists': return has;
    case 'absent': return !has;
  }
}

export function parseLabelSelector(text: string): LabelSelector {
  const trimmed = text.trim();
  const requirements = trimmed === '' ? [] : splitTerms(trimmed).map((t) => parseTerm(t, text));
  return Object.freeze({
    text,
    empty: requirements.length === 0,
    matches(labels: Readonly<Record<string, string>> | undefined): boolean {
      const l = labels ?? {};
      for (const req of requirements) if (!matchesRequirement(req, l)) return false;
      return true;
    },
  });
}
