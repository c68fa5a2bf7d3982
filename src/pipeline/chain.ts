// A route's chain: its plugin instances in order, and for each phase the links that implement
// it — resolved once when the route's runtime is built. A phase nobody implements is null, so
// the runner skips it with one check.

import type { Phases } from './types.ts';

/** A plugin instance in a route's chain. */
export interface ChainLink {
  /** Plugin name (metrics/log label for built-ins) or Middleware `namespace/name`. */
  readonly name: string;
  readonly phases: Phases;
  /** Index into the per-exchange state slots (ctx.local). */
  readonly slot: number;
  /** The plugin's `local` factory: ctx.local is made on first use. */
  readonly makeLocal: (() => unknown) | null;
  /** Its selectEndpoint is handed the candidates (false only for built-ins that never read them). */
  readonly readsCandidates: boolean;
}

/** What a chain is built from: a plugin instance's name and phases (and its `local` factory). */
export interface ChainEntry {
  readonly name: string;
  readonly phases: Phases;
  readonly makeLocal?: (() => unknown) | null;
  /**
   * false: its selectEndpoint never reads the candidates argument (built-in stickiness and the
   * balancer pick members themselves), so none are made for it. A route's candidate views are
   * ~400 bytes per route, made on the first request otherwise. Default true.
   */
  readonly readsCandidates?: boolean;
}

export class RouteChain {
  readonly links: readonly ChainLink[];
  readonly connection: readonly ChainLink[] | null;
  readonly request: readonly ChainLink[] | null;
  readonly selectEndpoint: readonly ChainLink[] | null;
  readonly upstreamRequest: readonly ChainLink[] | null;
  readonly requestBody: readonly ChainLink[] | null;
  readonly response: readonly ChainLink[] | null;
  readonly responseBody: readonly ChainLink[] | null;
  readonly failure: readonly ChainLink[] | null;
  readonly log: readonly ChainLink[] | null;
  /** Bound on the time an asynchronous phase may take (the route's timeout; 0 = none). */
  readonly timeoutMs: number;

  constructor(entries: readonly ChainEntry[], timeoutMs: number) {
    const links = entries.map((e, i): ChainLink => ({ name: e.name, phases: e.phases, slot: i, makeLocal: e.makeLocal ?? null, readsCandidates: e.readsCandidates ?? true }));
    this.links = links;
    this.timeoutMs = timeoutMs;
    this.connection = having(links, 'connection');
    this.request = having(links, 'request');
    this.selectEndpoint = having(links, 'selectEndpoint');
    this.upstreamRequest = having(links, 'upstreamRequest');
    this.requestBody = having(links, 'requestBody');
    this.response = having(links, 'response');
    this.responseBody = having(links, 'responseBody');
    this.failure = having(links, 'failure');
    this.log = having(links, 'log');
  }

  /** Number of per-exchange state slots. */
  get size(): number {
    return this.links.length;
  }

  /** Names of the links, in order (diagnostics). */
  names(): string[] {
    return this.links.map((l) => l.name);
  }
}

/**
 * The links implementing `phase`, in an array of exactly their number: filter() grows its result
 * by push, which leaves room for 17 (152 bytes), and every route keeps four or five of these.
 */
function having(links: readonly ChainLink[], phase: keyof Phases): readonly ChainLink[] | null {
  let count = 0;
  for (const l of links) if (typeof l.phases[phase] === 'function') count++;
  if (count === 0) return null;
  const list = new Array<ChainLink>(count);
  let i = 0;
  for (const l of links) if (typeof l.phases[phase] === 'function') list[i++] = l;
  return list;
}
