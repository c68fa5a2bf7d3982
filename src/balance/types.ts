// What balancers choose between. A member is one endpoint as seen by one route: the shared
// EndpointState plus this route's weight for it (its service's weight split over the
// service's endpoints) and whether it accepts new sessions (not terminating).

import type { EndpointState } from '../health/endpoint-state.ts';

export interface Member {
  readonly endpoint: EndpointState;
  readonly weight: number;
  readonly acceptsNew: boolean;
}

/** Members a request has already tried (a retry): one, or a list. */
export type Excluded = Member | readonly Member[] | null | undefined;

export interface Balancer {
  /**
   * Choose a member for a new request, or null when none is available (all down, ejected,
   * terminating, or weight 0). `clientIp` feeds the `source` algorithm; `exclude` are members
   * already tried (a retry on another endpoint after a failure).
   */
  pick(clientIp: string, now: number, exclude?: Excluded): Member | null;
  /** Take over the rotation state of the balancer this one replaces (same route, new endpoints). */
  inherit?(previous: Balancer): void;
}
