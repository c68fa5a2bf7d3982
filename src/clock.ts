// Time as a dependency: timer-driven code (leader election, active health checks) reads the time
// and arms its timers through a Clock, so tests drive it with a manual clock and wait on events
// instead of sleeping. Production uses the system clock.

export type TimerHandle = unknown;

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout<A extends unknown[]>(callback: (...args: A) => void, ms: number, ...args: A): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  setTimeout: <A extends unknown[]>(callback: (...args: A) => void, ms: number, ...args: A): TimerHandle => setTimeout(callback, ms, ...args),
  clearTimeout: (handle: TimerHandle) => clearTimeout(handle as NodeJS.Timeout),
});
