import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** A request the receiver got. */
export interface ReceivedWebhook {
  id: string;
  headers: Record<string, string>;
  body: string;
  /** `Webhook.verify` accepted the signature. */
  verified: boolean;
  /** What the receiver answered (0: dropped). */
  status: number;
}

/** A real HTTP webhook receiver that verifies Standard Webhooks signatures. */
export interface WebhookReceiver {
  url: string;
  /** Every request, in arrival order. */
  received: ReceivedWebhook[];
  /** Requests answered 2xx. */
  accepted(): ReceivedWebhook[];
  /** The next `count` requests fail (503, or the connection is dropped). */
  failNext(count: number, how?: 503 | 'drop'): void;
  /** Resolves once `count` requests were accepted. */
  waitForAccepted(count: number, timeoutMs?: number): Promise<ReceivedWebhook[]>;
  close(): Promise<void>;
}

/** A random `whsec_` secret. */
export function newWebhookSecret(): string {
  return `whsec_${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64')}`;
}

/**
 * Starts a receiver on 127.0.0.1: 401 for a bad signature, 204 for a good one, unless told to fail.
 */
export async function startWebhookReceiver(secret: string): Promise<WebhookReceiver> {
  const verifier = new Webhook(secret);
  const received: ReceivedWebhook[] = [];
  let failures = 0;
  let failHow: 503 | 'drop' = 503;
  const waiters: Array<() => void> = [];
  const sockets = new Set<Socket>();

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = flatten(req.headers);
      const record: ReceivedWebhook = { id: headers['webhook-id'] ?? '', headers, body, verified: false, status: 0 };
      received.push(record);
      if (failures > 0) {
        failures--;
        if (failHow === 'drop') {
          req.socket.destroy();
          return;
        }
        record.status = 503;
        res.writeHead(503).end('unavailable');
        return;
      }
      try {
        verifier.verify(body, headers);
        record.verified = true;
        record.status = 204;
        res.writeHead(204).end();
      } catch {
        record.status = 401;
        res.writeHead(401).end('bad signature');
      }
      for (const wake of waiters.splice(0)) wake();
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const accepted = () => received.filter((r) => r.status >= 200 && r.status < 300);
  return {
    url: `http://127.0.0.1:${port}/hooks/recording`,
    received,
    accepted,
    failNext(count, how = 503) {
      failures = count;
      failHow = how;
    },
    async waitForAccepted(count, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (accepted().length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} accepted webhooks, got ${accepted().length}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 100);
        });
      }
      return accepted();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function flatten(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}
