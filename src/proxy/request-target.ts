// Request targets: every way in matches routes on the origin form.

/** `http://host/path?q` (absolute-form request target) → `/path?q`. */
export function originForm(url: string): string {
  const scheme = url.indexOf('://');
  if (scheme === -1) return url === '*' ? '*' : `/${url}`;
  const slash = url.indexOf('/', scheme + 3);
  return slash === -1 ? '/' : url.slice(slash);
}
