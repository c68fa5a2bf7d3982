// Preloaded (`node --import`) into every router a test starts: when the test process is gone —
// killed by ava's timeout, say, so its exit handler that kills its routers never ran — the
// router's stdin pipe closes and it stops itself, instead of living on as an orphan holding
// ports. Test support only; the router itself does not read stdin.

import { isMainThread } from 'node:worker_threads';

// Only the main thread: --workers threads run this preload too, and their stdin is not ours.
if (isMainThread) watchParent();

function watchParent(): void {
  process.stdin.on('end', () => process.kill(process.pid, 'SIGTERM'));
  process.stdin.on('error', () => process.kill(process.pid, 'SIGTERM'));
  process.stdin.resume();
  // The pipe must not keep a router alive that is done (after its drain, say).
  (process.stdin as unknown as { unref?: () => void }).unref?.();
}
