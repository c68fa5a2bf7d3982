// Everything the threads of one router share: the endpoint slots (health, ejection, in-flight
// counts) and the limit table (rate limits, concurrency limits). The main thread creates it; a
// proxy worker thread attaches to its buffers (passed in workerData, shared, not copied).

import { EndpointSlots, type EndpointSlotBuffers } from './endpoint-slots.ts';
import { LimitTable } from './limit-table.ts';

export interface SharedBuffers { endpoints: EndpointSlotBuffers; limits: SharedArrayBuffer }

export class SharedState {
  readonly endpoints: EndpointSlots;
  readonly limits: LimitTable;

  static create(): SharedState {
    return new SharedState(EndpointSlots.create(), LimitTable.create());
  }

  static attach(buffers: SharedBuffers): SharedState {
    return new SharedState(new EndpointSlots(buffers.endpoints), new LimitTable(buffers.limits));
  }

  private constructor(endpoints: EndpointSlots, limits: LimitTable) {
    this.endpoints = endpoints;
    this.limits = limits;
  }

  get buffers(): SharedBuffers {
    return { endpoints: this.endpoints.buffers, limits: this.limits.buffer };
  }
}
