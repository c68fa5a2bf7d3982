// The cleartext HTTP/1.1 connections to one endpoint for the native client (http1-connection.ts):
// as many as requests in flight (not capped: createPool in http1-forwarder.ts says why), the idle
// ones on a stack, the one freed last on top (its connection the warmest). A connection that
// closes while idle (idle timeout, the backend's close, stray bytes) leaves the stack at once, so
// an endpoint that sees no traffic holds nothing but this object.

import { errors } from 'undici';
import { Http1Connection, type Http1ConnectionOwner } from './http1-connection.ts';
import type { NativeParserClass } from './native-http-parser.ts';

export class Http1ConnectionPool implements Http1ConnectionOwner {
  readonly host: string;
  readonly port: number;
  readonly connectTimeoutMs: number;
  readonly parserClass: NativeParserClass;
  /**
   * Open connections, idle or busy; null while there are none. An endpoint's connections close a
   * few seconds after its traffic stops, and a Set and a grown stack kept for none were ~250 bytes
   * per endpoint ever served (bench:scale, 10k routes, one request each).
   */
  #open: Set<Http1Connection> | null = null;
  #idle: Http1Connection[] = [];
  #closing = false;

  constructor(host: string, port: number, connectTimeoutMs: number, parserClass: NativeParserClass) {
    this.host = host;
    this.port = port;
    this.connectTimeoutMs = connectTimeoutMs;
    this.parserClass = parserClass;
  }

  /** An idle connection (the one freed last), else a new one. */
  acquire(): Http1Connection {
    const idle = this.#idle.pop();
    if (idle !== undefined) {
      idle.idle = false;
      return idle;
    }
    const made = new Http1Connection(this);
    (this.#open ??= new Set()).add(made);
    return made;
  }

  released(connection: Http1Connection): void {
    if (this.#closing) {
      connection.close();
      return;
    }
    this.#idle.push(connection);
  }

  removed(connection: Http1Connection): void {
    if (this.#open === null || !this.#open.delete(connection)) return;
    if (connection.idle) {
      connection.idle = false;
      const at = this.#idle.lastIndexOf(connection);
      if (at !== -1) this.#idle.splice(at, 1);
    }
    if (this.#open.size === 0) {
      this.#open = null;
      this.#idle = []; // empty, but a stack that grew keeps its room (17 slots)
    }
  }

  /** Connections open (idle or busy): for tests and diagnostics. */
  get size(): number {
    return this.#open?.size ?? 0;
  }

  get idle(): number {
    return this.#idle.length;
  }

  /** Requests in flight finish; idle connections close now, busy ones when their request ends. */
  close(): Promise<void> {
    this.#closing = true;
    for (const c of [...this.#idle]) c.close();
    return Promise.resolve();
  }

  /** Every connection closes now; requests in flight fail. */
  destroy(): Promise<void> {
    this.#closing = true;
    for (const c of [...(this.#open ?? [])]) c.fail(new errors.ClientDestroyedError());
    return Promise.resolve();
  }
}
