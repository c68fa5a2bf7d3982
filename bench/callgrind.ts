// Reading callgrind's counters of a process running under `valgrind --tool=callgrind
// --callgrind-out-file=<dir>/cg.%p`, for the benchmarks that count instructions.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** Zeroes the counters of `pid` (callgrind_control -z). */
export function zeroInstructions(pid: number): void {
  execFileSync('callgrind_control', ['-z', String(pid)], { stdio: 'ignore' });
}

/**
 * Dumps the counters of `pid` (callgrind_control -d) and returns the instructions since the last
 * zeroing. `seen`: the dump files of `dir` already read (default: those there now); the new one joins it.
 */
export function dumpInstructions(dir: string, pid: number, seen: Set<string> = new Set(readdirSync(dir))): number {
  execFileSync('callgrind_control', ['-d', String(pid)], { stdio: 'ignore' });
  const file = readdirSync(dir).find((f) => f.startsWith(`cg.${pid}`) && !seen.has(f));
  if (file === undefined) throw new Error('callgrind wrote no dump');
  const m = /^(?:summary|totals):\s+(\d+)/m.exec(readFileSync(path.join(dir, file), 'utf8'));
  if (m === null) throw new Error(`no totals in ${file}`);
  seen.add(file);
  return Number(m[1]);
}
