// Picks N distinct TCP ports that are free on the host, at random within [start, end).
//
// A port counts as free when we can listen on it at the bind-test host (0.0.0.0 by default:
// a port held on any interface fails that bind). The listening sockets are kept open until
// `release()` so two autoport processes on one node cannot both pick the same port while they
// render templates and report; the caller releases them right before exec. Between that release
// and the application's own bind there is still a short window in which another process may take
// the port: the router's health checks mark such a loser down (see docs/autoport.md).

import net from 'node:net';
import { randomInt } from 'node:crypto';
import { AutoportError, PortRangeExhaustedError } from './autoport-errors.ts';

export interface PickPortsOptions {
  count: number;
  /** included */
  start: number;
  /** excluded */
  end: number;
  host: string;
  /** Uniform integer in [0, maxExclusive); injectable so tests can force collisions. */
  random?: (maxExclusive: number) => number;
}

export interface HeldPorts {
  readonly ports: readonly number[];
  /** Closes the test listeners, freeing the ports for the application. */
  release(): Promise<void>;
}

/** Errors that mean "this port is taken by someone else": try the next one. */
const TAKEN = new Set(['EADDRINUSE', 'EACCES']);

/**
 * A held port only answers by closing: a connection to it (a router still probing the endpoint
 * that had this port before, whose TCP check ends in RST) must not become an uncaught
 * ECONNRESET that takes the wrapper down before the application starts.
 */
function closeAtOnce(socket: net.Socket): void {
  socket.on('error', ignore);
  socket.destroy();
}

function ignore(): void {}

function listenOn(port: number, host: string): Promise<net.Server | null> {
  return new Promise((resolve, reject) => {
    const server = net.createServer(closeAtOnce);
    server.unref();
    const onError = (err: NodeJS.ErrnoException): void => {
      server.close();
      if (err.code !== undefined && TAKEN.has(err.code)) resolve(null);
      else reject(new AutoportError(`bind test on ${host}:${port} failed: ${err.message}`));
    };
    server.once('error', onError);
    server.listen({ port, host, exclusive: true }, () => {
      server.off('error', onError);
      resolve(server);
    });
  });
}

function closeAll(servers: readonly net.Server[]): Promise<void> {
  return Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))).then(() => undefined);
}

/** Every port of [start, end) in a random order (Fisher–Yates). */
export function shuffledRange(start: number, end: number, random: (maxExclusive: number) => number = randomInt): number[] {
  const ports = Array.from({ length: end - start }, (_, i) => start + i);
  for (let i = ports.length - 1; i > 0; i--) {
    const j = random(i + 1);
    const tmp = ports[i]!;
    ports[i] = ports[j]!;
    ports[j] = tmp;
  }
  return ports;
}

/**
 * Holds `count` free ports from the range, trying candidates in random order and moving on when
 * one is taken. Throws PortRangeExhaustedError once every port has been tried.
 */
export async function pickFreePorts(options: PickPortsOptions): Promise<HeldPorts> {
  const { count, start, end, host } = options;
  const size = end - start;
  const held: net.Server[] = [];
  const ports: number[] = [];
  let taken = 0;
  try {
    if (count <= size) {
      for (const port of shuffledRange(start, end, options.random)) {
        const server = await listenOn(port, host);
        if (server === null) { taken++; continue; }
        held.push(server);
        ports.push(port);
        if (ports.length === count) break;
      }
    }
  } catch (err) {
    await closeAll(held);
    throw err;
  }
  if (ports.length < count) {
    await closeAll(held);
    throw new PortRangeExhaustedError(
      `cannot pick ${count} free port${count === 1 ? '' : 's'} in [${start}, ${end}) on ${host}: ` +
      (count > size ? `the range holds only ${size}` : `tried all ${size}, ${taken} in use`),
    );
  }
  let released: Promise<void> | null = null;
  return {
    ports: Object.freeze(ports),
    release: () => (released ??= closeAll(held)),
  };
}
