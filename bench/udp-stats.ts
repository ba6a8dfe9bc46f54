/**
 * What the kernel says about UDP receive, for the capture benchmark: the system-wide
 * counters of /proc/net/snmp, one socket's queue and drops from /proc/net/udp, and the
 * receive buffer it grants for a request. Linux only; elsewhere every figure is undefined.
 */
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';

/** The `Udp:` counters of /proc/net/snmp (this network namespace, every socket). */
export interface UdpCounters {
  inDatagrams: number;
  /** Datagrams dropped on receive, for any reason (a full buffer included). */
  inErrors: number;
  /** Datagrams dropped because a socket's receive buffer was full. */
  rcvbufErrors: number;
}

export function readUdpCounters(): UdpCounters | undefined {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((line) => line.startsWith('Udp:'));
    const names = lines[0]!.split(/\s+/).slice(1);
    const values = lines[1]!.split(/\s+/).slice(1).map(Number);
    const field = (name: string) => values[names.indexOf(name)] ?? Number.NaN;
    return { inDatagrams: field('InDatagrams'), inErrors: field('InErrors'), rcvbufErrors: field('RcvbufErrors') };
  } catch {
    return undefined;
  }
}

export function udpCountersDelta(from: UdpCounters | undefined, to: UdpCounters | undefined): UdpCounters | undefined {
  if (!from || !to) return undefined;
  return { inDatagrams: to.inDatagrams - from.inDatagrams, inErrors: to.inErrors - from.inErrors, rcvbufErrors: to.rcvbufErrors - from.rcvbufErrors };
}

/** One IPv4 socket's line of /proc/net/udp: bytes queued for the reader and datagrams dropped. */
export function readUdpSocket(localPort: number): { queuedBytes: number; drops: number } | undefined {
  try {
    const port = localPort.toString(16).toUpperCase().padStart(4, '0');
    for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 13 || !fields[1]!.endsWith(`:${port}`)) continue;
      // tx_queue:rx_queue, hex bytes; the last field is the socket's drop counter.
      return { queuedBytes: Number.parseInt(fields[4]!.split(':')[1]!, 16), drops: Number(fields[fields.length - 1]) };
    }
  } catch {
    // not Linux
  }
  return undefined;
}

/** What the kernel grants a UDP socket that asks for `requestedBytes`, and its limit. */
export async function grantedReceiveBuffer(requestedBytes: number): Promise<{ grantedBytes: number; rmemMaxBytes: number | undefined }> {
  const socket = createSocket({ type: 'udp4', recvBufferSize: requestedBytes });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const grantedBytes = socket.getRecvBufferSize();
  socket.close();
  let rmemMaxBytes: number | undefined;
  try {
    rmemMaxBytes = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8').trim());
  } catch {
    rmemMaxBytes = undefined;
  }
  return { grantedBytes, rmemMaxBytes };
}

/** A drop seen by {@link SocketWatch}: when, how many, and how full the queue was around it. */
export interface DropEvent {
  atS: number;
  drops: number;
  queuedBytes: number;
}

/**
 * Samples one socket's receive queue and drops every `intervalMs`, so a loss comes with
 * when it happened and how far behind the reader was: the peak queue is the largest
 * backlog the reader let build up.
 */
export class SocketWatch {
  readonly port: number;
  readonly drops: DropEvent[] = [];
  peakQueuedBytes = 0;
  peakAtS = 0;
  #t0 = performance.now();
  #lastDrops: number | undefined;
  #lastQueued = 0;
  #timer: NodeJS.Timeout;

  constructor(port: number, intervalMs = 20) {
    this.port = port;
    this.#timer = setInterval(() => this.#sample(), intervalMs);
    this.#sample();
  }

  /** Seconds since the watch started. */
  get elapsedS(): number {
    return (performance.now() - this.#t0) / 1000;
  }

  get totalDrops(): number {
    return this.drops.reduce((sum, d) => sum + d.drops, 0);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#sample();
  }

  #sample(): void {
    const socket = readUdpSocket(this.port);
    if (!socket) return;
    const atS = Math.round(this.elapsedS * 100) / 100;
    if (socket.queuedBytes > this.peakQueuedBytes) {
      this.peakQueuedBytes = socket.queuedBytes;
      this.peakAtS = atS;
    }
    if (this.#lastDrops !== undefined && socket.drops > this.#lastDrops) {
      this.drops.push({ atS, drops: socket.drops - this.#lastDrops, queuedBytes: Math.max(socket.queuedBytes, this.#lastQueued) });
    }
    this.#lastDrops = socket.drops;
    this.#lastQueued = socket.queuedBytes;
  }
}

/** A stall of this thread's event loop seen by {@link LoopStallWatch}. */
export interface LoopStall {
  atS: number;
  ms: number;
}

/**
 * Records when this thread's event loop was held up for longer than `thresholdMs`, on the
 * clock of a {@link SocketWatch} started at the same time: the replayer runs here and sends
 * what fell due during a stall in one burst, which the capture socket must then absorb.
 */
export class LoopStallWatch {
  readonly stalls: LoopStall[] = [];
  readonly #t0 = performance.now();
  readonly #intervalMs: number;
  readonly #thresholdMs: number;
  #last = performance.now();
  #timer: NodeJS.Timeout;

  constructor(thresholdMs = 100, intervalMs = 10) {
    this.#intervalMs = intervalMs;
    this.#thresholdMs = thresholdMs;
    this.#timer = setInterval(() => {
      const now = performance.now();
      const lateMs = now - this.#last - this.#intervalMs;
      if (lateMs > this.#thresholdMs) this.stalls.push({ atS: Math.round(((this.#last - this.#t0) / 1000) * 100) / 100, ms: Math.round(lateMs) });
      this.#last = now;
    }, intervalMs);
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
