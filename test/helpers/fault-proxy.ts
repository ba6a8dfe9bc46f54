import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * What the proxy does with one request:
 * - `pass`: forward it;
 * - `500`: answer an S3-style 500 InternalError without forwarding;
 * - `503`: answer an S3-style 503 SlowDown (throttling);
 * - `403`: answer an S3-style 403 AccessDenied;
 * - `drop`: destroy the connection without answering (the client sees a reset / socket hang up).
 */
export type Fault = 'pass' | '500' | '503' | '403' | 'drop';

/** One request the proxy saw, and what it did with it. */
export interface ObservedRequest {
  method: string;
  url: string;
  action: Fault | 'refused';
  status?: number;
}

/** A fault-injecting HTTP proxy in front of a real server. */
export interface FaultProxy {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  requests: ObservedRequest[];
  /** Faults applied, in order, to the next requests; afterwards requests pass. */
  setFaults(faults: Fault[]): void;
  /** `down`: every connection is destroyed on accept (storage unreachable). */
  setMode(mode: 'up' | 'down'): void;
  close(): Promise<void>;
}

const S3_ERRORS: Record<'500' | '503' | '403', { status: number; code: string; message: string }> = {
  '500': { status: 500, code: 'InternalError', message: 'We encountered an internal error. Please try again.' },
  '503': { status: 503, code: 'SlowDown', message: 'Please reduce your request rate.' },
  '403': { status: 403, code: 'AccessDenied', message: 'Access Denied' },
};

/**
 * Starts a proxy on 127.0.0.1 that forwards to `target` (an `http://host:port`), failing the
 * requests that {@link FaultProxy.setFaults} lists. Every request is recorded, so a test can
 * count e.g. the multipart `UploadPart` requests.
 */
export async function startFaultProxy(target: string, faults: Fault[] = []): Promise<FaultProxy> {
  const upstream = new URL(target);
  let queue = [...faults];
  let mode: 'up' | 'down' = 'up';
  const requests: ObservedRequest[] = [];
  const sockets = new Set<Socket>();

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const action = queue.shift() ?? 'pass';
    const observed: ObservedRequest = { method: req.method ?? '', url: req.url ?? '', action };
    requests.push(observed);
    if (action === 'drop') {
      req.socket.destroy();
      return;
    }
    if (action !== 'pass') {
      const error = S3_ERRORS[action];
      observed.status = error.status;
      // Drain the body first so the client is not cut off mid-upload by our answer.
      req.resume();
      req.on('end', () => {
        res.writeHead(error.status, { 'content-type': 'application/xml' });
        res.end(
          `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${error.code}</Code><Message>${error.message}</Message><RequestId>fault-proxy</RequestId></Error>`,
        );
      });
      return;
    }
    const forward = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (upstreamRes) => {
        observed.status = upstreamRes.statusCode;
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        upstreamRes.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  server.on('connection', (socket: Socket) => {
    if (mode === 'down') {
      requests.push({ method: '', url: '', action: 'refused' });
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    setFaults(next) {
      queue = [...next];
    },
    setMode(next) {
      mode = next;
      if (next === 'down') for (const socket of sockets) socket.destroy();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
