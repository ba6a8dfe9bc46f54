/**
 * A busy host, on purpose: preloaded with `NODE_OPTIONS=--import ./bench/stall-loop.mjs`, it
 * blocks an event loop for up to STALL_MS ms (at least 30 % of it) every 0.2..1.2 s, as a
 * starved or garbage-collecting process does. Busy loops beside a test only share the
 * cores fairly; this holds up the very thread that paces a synthetic peer or reads the
 * capture socket, which is what moves packets in time.
 *
 *   STALL_MS=200 STALL_SEED=2 NODE_OPTIONS="--import ./bench/stall-loop.mjs" \
 *     PRINT_FIGURES=1 npx vitest run test/recorder/individual.test.ts -t 'individual recording'
 *
 * STALL_THREAD: `main` (default: the main thread of vitest's test workers and of benches,
 * never vitest's own process) or `worker` (worker threads: the capture thread).
 * STALL_EVERY_MS: a fixed period instead of the random one.
 */
import { isMainThread } from 'node:worker_threads';

const maxMs = Number(process.env.STALL_MS ?? 0);
const thread = process.env.STALL_THREAD ?? 'main';
const testWorkerOrBench = process.argv.some((arg) => /forks|workers|bench/.test(arg));
const applies = thread === 'worker' ? !isMainThread : isMainThread && testWorkerOrBench;

if (maxMs > 0 && applies) {
  let seed = Number(process.env.STALL_SEED ?? 1);
  // A small linear congruential generator: the same seed stalls at the same moments.
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const every = process.env.STALL_EVERY_MS === undefined ? undefined : Number(process.env.STALL_EVERY_MS);
  const stall = () => {
    const until = performance.now() + (every === undefined ? maxMs * (0.3 + 0.7 * random()) : maxMs);
    while (performance.now() < until);
    setTimeout(stall, every ?? 200 + random() * 1000).unref();
  };
  setTimeout(stall, 500).unref();
}
