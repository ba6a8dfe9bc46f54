/**
 * Benchmark dispatcher: `npm run bench -- <name> [options]`. Each benchmark is a module
 * exporting `main(argv)`, loaded only when asked for.
 */
import { ensureMediasoupWorkerEnv } from '../src/worker/resolve-worker-bin.js';

type Bench = { main: (argv: readonly string[]) => Promise<void> };

// mediasoup reads MEDIASOUP_WORKER_BIN when first imported, which the benches do lazily.
ensureMediasoupWorkerEnv();

const benches: Record<string, () => Promise<Bench>> = {
  capture: () => import('./capture.js'),
  composite: () => import('./composite.js'),
  'scale-out': () => import('./scale-out.js'),
};

const [name, ...argv] = process.argv.slice(2);
const load = name ? benches[name] : undefined;
if (!load) {
  console.error(`usage: npm run bench -- <${Object.keys(benches).join('|')}> [options]`);
  process.exitCode = 2;
} else {
  try {
    await (await load()).main(argv);
  } catch (error) {
    console.error(error);
    process.exitCode = 1;
  }
}
