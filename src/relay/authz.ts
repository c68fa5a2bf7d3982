// Who is asking, and may they: every cached read is authenticated with a TokenReview and
// authorized with a SubjectAccessReview (the user, groups, uid and extra the review found; the
// verb, group, resource, namespace and name of the read), asked of the API server as the relay.
// Answers are kept for a short time, keyed by a SHA-256 of the token (the token itself is kept
// nowhere and never logged), so N routers reading M collections cost a few reviews, not N × M
// per watch restart. A revoked token or RoleBinding is honoured within that time.

import { createHash } from 'node:crypto';
import type { KubeClient } from '../kube/client.ts';
import type { CachedRead } from './request-info.ts';
import type { RelayMetrics } from './metrics.ts';

export interface UserInfo { username: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> }

export type Decision =
  | { allowed: true; user: UserInfo }
  | { allowed: false; code: 401 }
  | { allowed: false; code: 403; user: UserInfo };

interface Entry<T> { expires: number; value: Promise<T> }

/** Entries kept per cache; the oldest go first beyond it. */
const MAX_ENTRIES = 10_000;

export class RelayAuthorizer {
  readonly #client: KubeClient;
  readonly #ttlMs: number;
  readonly #metrics: RelayMetrics;
  readonly #users = new Map<string, Entry<UserInfo | undefined>>();
  readonly #access = new Map<string, Entry<boolean>>();

  constructor(client: KubeClient, options: { ttlMs: number; metrics: RelayMetrics }) {
    this.#client = client;
    this.#ttlMs = options.ttlMs;
    this.#metrics = options.metrics;
  }

  /** Rejects when the API server cannot be asked (the caller answers 503). */
  async decide(read: CachedRead): Promise<Decision> {
    const tokenHash = createHash('sha256').update(read.token).digest('base64');
    const user = await this.#cached(this.#users, tokenHash, 'token', () => this.#review(read.token));
    if (!user) return { allowed: false, code: 401 };
    const attributes = [read.verb, read.group, read.resource, read.namespace ?? '', read.name ?? ''];
    const key = `${tokenHash}\u0000${attributes.join('\u0000')}`;
    const allowed = await this.#cached(this.#access, key, 'access', () => this.#accessReview(user, read));
    return allowed ? { allowed: true, user } : { allowed: false, code: 403, user };
  }

  async #cached<T>(map: Map<string, Entry<T>>, key: string, review: string, ask: () => Promise<T>): Promise<T> {
    const now = Date.now();
    const hit = map.get(key);
    if (hit && hit.expires > now) {
      this.#metrics.authCache.inc({ review, result: 'hit' });
      return hit.value;
    }
    this.#metrics.authCache.inc({ review, result: 'miss' });
    const value = ask();
    map.delete(key);
    // Pending, it is joined by every request for it (a slow review is asked once, however many
    // retries); answered, it is reused for the TTL from the answer.
    const entry: Entry<T> = { expires: Infinity, value };
    map.set(key, entry);
    value.then(() => { entry.expires = Date.now() + this.#ttlMs; }, () => {});
    if (map.size > MAX_ENTRIES) map.delete(map.keys().next().value!);
    // A failed review (the API server unreachable) is not remembered.
    value.catch(() => { if (map.get(key)?.value === value) map.delete(key); });
    return value;
  }

  async #review(token: string): Promise<UserInfo | undefined> {
    const answer = await this.#client.request<{ status?: { authenticated?: boolean; user?: UserInfo } }>({
      method: 'POST', path: '/apis/authentication.k8s.io/v1/tokenreviews',
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
    });
    const user = answer.status?.user;
    return answer.status?.authenticated === true && typeof user?.username === 'string' ? user : undefined;
  }

  async #accessReview(user: UserInfo, read: CachedRead): Promise<boolean> {
    const answer = await this.#client.request<{ status?: { allowed?: boolean } }>({
      method: 'POST', path: '/apis/authorization.k8s.io/v1/subjectaccessreviews',
      body: {
        apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview',
        spec: {
          user: user.username, uid: user.uid, groups: user.groups, extra: user.extra,
          resourceAttributes: { verb: read.verb, group: read.group, version: read.version, resource: read.resource, namespace: read.namespace, name: read.name },
        },
      },
    });
    return answer.status?.allowed === true;
  }
}
