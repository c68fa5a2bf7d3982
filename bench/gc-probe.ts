// Preloaded into a benchmark's router (`node --import bench/gc-probe.ts`): counts its garbage
// collections — minor and major, their pause, and how much the old generation grew at minor ones
// (what scavenges promoted) — and prints the totals so far as one JSON line, {"gcTally": …}, on
// stdout at each SIGUSR2. Counts a loaded machine moves far less than CPU seconds.
import { PerformanceObserver, constants } from 'node:perf_hooks';
import v8 from 'node:v8';

const tally = { minor: 0, major: 0, pauseMs: 0, promotedBytes: 0 };

function oldSpaceUsed(): number {
  for (const space of v8.getHeapSpaceStatistics()) if (space.space_name === 'old_space') return space.space_used_size;
  return 0;
}

let lastOld = oldSpaceUsed();
new PerformanceObserver((list) => {
  // Entries come in batches after the collections: the old space is read once per batch.
  let major = false;
  for (const entry of list.getEntries()) {
    tally.pauseMs += entry.duration;
    const kind = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
    if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
      tally.major++;
      major = true;
    } else if (kind === constants.NODE_PERFORMANCE_GC_MINOR) {
      tally.minor++;
    }
  }
  const now = oldSpaceUsed();
  if (!major && now > lastOld) tally.promotedBytes += now - lastOld;
  lastOld = now;
}).observe({ entryTypes: ['gc'] });

process.on('SIGUSR2', () => {
  process.stdout.write(`${JSON.stringify({ gcTally: tally })}\n`);
});
