// Label and field selectors as the Kubernetes API server parses them, for the fake API server.
// Label: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x,y)`, `a` (exists), `!a` (absent).
// Field: `path=value`, `path==value`, `path!=value` over dotted paths (`metadata.name`, `type`).

export type Matcher = (object: Record<string, unknown>) => boolean;

export class SelectorError extends Error {
  override name = 'SelectorError';
}

/** Split on commas that are not inside parentheses. */
function splitTerms(text: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      terms.push(text.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(text.slice(start));
  return terms.map((t) => t.trim()).filter((t) => t.length > 0);
}

const KEY = /^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$/;

function checkKey(key: string, term: string): string {
  if (!KEY.test(key)) throw new SelectorError(`invalid label key in "${term}"`);
  return key;
}

export function parseLabelSelector(text: string | null | undefined): Matcher {
  if (!text) return () => true;
  const tests: Array<(labels: Record<string, string>) => boolean> = [];
  for (const term of splitTerms(text)) {
    let m: RegExpExecArray | null;
    if ((m = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term))) {
      const key = checkKey(m[1]!, term);
      const values = new Set(m[3]!.split(',').map((v) => v.trim()).filter((v) => v.length > 0));
      const negate = m[2] === 'notin';
      tests.push((labels) => (key in labels && values.has(labels[key]!)) !== negate);
    } else if ((m = /^!\s*(\S+)$/.exec(term))) {
      const key = checkKey(m[1]!, term);
      tests.push((labels) => !(key in labels));
    } else if ((m = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term))) {
      const key = checkKey(m[1]!, term);
      const value = m[3]!;
      if (m[2] === '!=') tests.push((labels) => labels[key] !== value);
      else tests.push((labels) => labels[key] === value);
    } else if ((m = /^(\S+)$/.exec(term))) {
      const key = checkKey(m[1]!, term);
      tests.push((labels) => key in labels);
    } else {
      throw new SelectorError(`unable to parse requirement "${term}"`);
    }
  }
  return (object) => {
    const labels = ((object['metadata'] as { labels?: Record<string, string> } | undefined)?.labels) ?? {};
    return tests.every((t) => t(labels));
  };
}

function fieldValue(object: Record<string, unknown>, path: string): string {
  let value: unknown = object;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object') return '';
    value = (value as Record<string, unknown>)[part];
  }
  return value === undefined || value === null ? '' : String(value);
}

export function parseFieldSelector(text: string | null | undefined): Matcher {
  if (!text) return () => true;
  const tests: Matcher[] = [];
  for (const term of splitTerms(text)) {
    const m = /^([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw new SelectorError(`invalid field selector "${term}"`);
    const [, path, op, value] = m as unknown as [string, string, string, string];
    if (op === '!=') tests.push((o) => fieldValue(o, path) !== value);
    else tests.push((o) => fieldValue(o, path) === value);
  }
  return (object) => tests.every((t) => t(object));
}
