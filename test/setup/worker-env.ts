// mediasoup reads MEDIASOUP_WORKER_BIN when its module is first loaded, so point it at
// the worker `npm run bootstrap` built (or mediasoup's own prebuilt one) before any test imports it.
import { ensureMediasoupWorkerEnv } from '../../src/worker/resolve-worker-bin.js';

ensureMediasoupWorkerEnv();
