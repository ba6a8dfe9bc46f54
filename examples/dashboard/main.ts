/**
 * The dashboard: create rooms with recording, join them from the browser, play the files.
 *
 *   npm run dashboard            # then open http://127.0.0.1:8080/
 *
 * Environment: PORT (default 8080; 0 picks a free one), HOST (default 127.0.0.1),
 * DATA_DIR (spool and default storage, default ./dashboard-data), ANNOUNCED_IP (the
 * address browsers reach WebRTC at, default 127.0.0.1), WEBHOOK_URL + WEBHOOK_SECRET
 * (a webhook for every room whose configuration names none).
 */
import { ensureMediasoupWorkerEnv } from '../../src/worker/resolve-worker-bin.js';
import { startDashboard } from './server.js';

function fail(message: string): never {
  console.error(`dashboard: ${message}`);
  process.exit(2);
}

// mediasoup reads MEDIASOUP_WORKER_BIN when it is first imported (in startDashboard).
if (!ensureMediasoupWorkerEnv()) fail('no mediasoup worker found: run `npm run bootstrap` first');
const port = Number(process.env.PORT ?? 8080);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`PORT must be a port number (got ${process.env.PORT})`);
const { WEBHOOK_URL, WEBHOOK_SECRET } = process.env;
if ((WEBHOOK_URL === undefined) !== (WEBHOOK_SECRET === undefined)) fail('set both WEBHOOK_URL and WEBHOOK_SECRET, or neither');

const dashboard = await startDashboard({
  port,
  ...(process.env.HOST ? { host: process.env.HOST } : {}),
  ...(process.env.DATA_DIR ? { dataDir: process.env.DATA_DIR } : {}),
  ...(process.env.ANNOUNCED_IP ? { announcedIp: process.env.ANNOUNCED_IP } : {}),
  ...(WEBHOOK_URL && WEBHOOK_SECRET ? { webhook: { url: WEBHOOK_URL, secret: WEBHOOK_SECRET } } : {}),
});
console.log(`open ${dashboard.url}/ in a browser (Ctrl-C stops the dashboard; sessions are finalised first)`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(130);
    stopping = true;
    console.log('stopping: finalising and storing the open sessions (Ctrl-C again to quit now)');
    void dashboard.close().then(() => process.exit(0));
  });
}
