// A route's chain: its plugin instances in order, and for each phase the links that implement
// it — resolved once when the route's runtime is built. A phase nobody implements is null, so
// the runner skips it with one check.

import type { ChainLink, Phases } from './types.ts';

export class RouteChain {
  readonly links: readonly ChainLink[];
  readonly connection: readonly ChainLink[] | null;
  readonly request: readonly ChainLink[] | null;
  readonly selectEndpoint: readonly ChainLink[] | null;
  readonly upstreamRequest: readonly ChainLink[] | null;
  readonly response: readonly ChainLink[] | null;
  readonly log: readonly ChainLink[] | null;
  /** Bound on the time the request phases may take together when one is asynchronous (the route's timeout). */
  readonly timeoutMs: number;

  constructor(links: readonly ChainLink[], timeoutMs: number) {
    this.links = links;
    this.timeoutMs = timeoutMs;
    this.connection = having(links, 'connection');
    this.request = having(links, 'request');
    this.selectEndpoint = having(links, 'selectEndpoint');
    this.upstreamRequest = having(links, 'upstreamRequest');
    this.response = having(links, 'response');
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

function having(links: readonly ChainLink[], phase: keyof Phases): readonly ChainLink[] | null {
  const list = links.filter((l) => typeof l.phases[phase] === 'function');
  return list.length === 0 ? null : list;
}

/** Build links from (name, phases) pairs; a link's slot is its position. */
export function linksOf(entries: ReadonlyArray<{ name: string; phases: Phases }>): ChainLink[] {
  return entries.map((e, i) => ({ name: e.name, phases: e.phases, slot: i }));
}
