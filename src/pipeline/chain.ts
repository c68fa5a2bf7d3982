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
    const links = entries.map((e, i): ChainLink => linkOf(e.name, e.phases, i, e.makeLocal ?? null, e.readsCandidates ?? true));
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
 * Links of plugin instances that many routes share (the retry policy, forwarded-headers per
 * policy: one instance each), by instance and slot: equal links are one object, and a phase whose
 * only link is such a one is one shared list. At 10k routes each route kept 4 links of 64 bytes
 * and 4–5 lists of ~56; a route with the defaults now has only its own (stickiness, balancer).
 * Links are immutable; a link of another name, factory or candidates flag is made anew.
 */
const sharedLinks = new WeakMap<Phases, Array<ChainLink | undefined>>();
const singleLists = new WeakMap<ChainLink, readonly ChainLink[]>();

/** Marks a plugin instance that many routes' chains hold (one per router, or per config value): its links are shared. */
export function sharedByRoutes<P extends Phases>(phases: P): P {
  if (!sharedLinks.has(phases)) sharedLinks.set(phases, []);
  return phases;
}

function linkOf(name: string, phases: Phases, slot: number, makeLocal: (() => unknown) | null, readsCandidates: boolean): ChainLink {
  const bySlot = sharedLinks.get(phases);
  if (bySlot === undefined) return { name, phases, slot, makeLocal, readsCandidates };
  const known = bySlot[slot];
  if (known !== undefined && known.name === name && known.makeLocal === makeLocal && known.readsCandidates === readsCandidates) return known;
  const link: ChainLink = { name, phases, slot, makeLocal, readsCandidates };
  if (known === undefined) bySlot[slot] = link;
  return link;
}

function isShared(link: ChainLink): boolean {
  return sharedLinks.get(link.phases)?.[link.slot] === link;
}

/**
 * The links implementing `phase`, in an array of exactly their number: filter() grows its result
 * by push, which leaves room for 17 (152 bytes), and every route keeps four or five of these.
 * A single shared link's list is shared too.
 */
function having(links: readonly ChainLink[], phase: keyof Phases): readonly ChainLink[] | null {
  let count = 0;
  let only: ChainLink | null = null;
  for (const l of links) if (typeof l.phases[phase] === 'function') { count++; only = l; }
  if (count === 0) return null;
  if (count === 1 && isShared(only!)) {
    let list = singleLists.get(only!);
    if (list === undefined) singleLists.set(only!, (list = Object.freeze([only!])));
    return list;
  }
  const list = new Array<ChainLink>(count);
  let i = 0;
  for (const l of links) if (typeof l.phases[phase] === 'function') list[i++] = l;
  return list;
}
