/**
 * The capture thread: owns the sessions' UDP sockets and their journals, so that
 * nothing the host application does on its own event loop (signalling, JSON, garbage
 * collection) can hold packets up long enough for the kernel to drop them. One thread
 * serves every session of a recorder. Started by {@link CaptureThread}; speaks the
 * messages in `capture-protocol.ts`.
 */
import { createSocket, type Socket } from 'node:dgram';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import type { CaptureEvent, CaptureRequest, CaptureWorkerData } from './capture-protocol.js';
import { JournalRecordKind, JournalWriter, monotonicMs } from './journal.js';
import { LossWatch } from './loss-watch.js';
import { isRtcp, rtpSsrc, splitRtcp } from './rtp-demux.js';

interface BoundSocket {
  socket: Socket;
  journals: Map<number, JournalWriter>;
  /** Video SSRCs watched for unrecovered loss. */
  lossWatches: Map<number, LossWatch>;
  /** SSRCs whose journal waits for disk space, as last reported. */
  blocked: Set<number>;
  /** SSRCs whose journal failure was reported. */
  failed: Set<number>;
  received: number;
  unrouted: number;
}

const port = parentPort!;
const options = workerData as CaptureWorkerData;
const sockets = new Map<number, BoundSocket>();
let nextSocketId = 1;

const send = (event: CaptureEvent): void => port.postMessage(event);

// How long this thread ever left its sockets unread: the kernel buffers that long a backlog, no longer.
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
let longestGcPauseMs = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) longestGcPauseMs = Math.max(longestGcPauseMs, entry.duration);
}).observe({ entryTypes: ['gc'] });

function deliver(bound: BoundSocket, ssrc: number, kind: JournalRecordKind, packet: Buffer, arrival: number): void {
  const journal = bound.journals.get(ssrc);
  if (!journal) {
    bound.unrouted++;
    return;
  }
  // A failed journal ignores packets; the failure is reported by the timer below.
  journal.append(kind, packet, arrival);
}

function bind(ip: string, receiveBufferBytes: number): Promise<{ socketId: number; ip: string; port: number; receiveBufferBytes: number }> {
  const socketId = nextSocketId++;
  const socket = createSocket({ type: 'udp4', recvBufferSize: receiveBufferBytes });
  const bound: BoundSocket = { socket, journals: new Map(), lossWatches: new Map(), blocked: new Set(), failed: new Set(), received: 0, unrouted: 0 };
  socket.on('message', (packet) => {
    bound.received++;
    const arrival = monotonicMs();
    if (isRtcp(packet)) {
      for (const part of splitRtcp(packet)) deliver(bound, part.ssrc, JournalRecordKind.Rtcp, part.packet, arrival);
      return;
    }
    const ssrc = rtpSsrc(packet);
    if (ssrc === undefined) return;
    deliver(bound, ssrc, JournalRecordKind.Rtp, packet, arrival);
    // mediasoup's probation packets (payload type 127) have sequence numbers of their own.
    if ((packet[1]! & 0x7f) !== 127) bound.lossWatches.get(ssrc)?.push(packet.readUInt16BE(2), arrival);
  });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, ip, () => {
      socket.off('error', reject);
      socket.on('error', (error) => send({ op: 'socket-error', socketId, message: error.message }));
      sockets.set(socketId, bound);
      const address = socket.address();
      resolve({ socketId, ip: address.address, port: address.port, receiveBufferBytes: socket.getRecvBufferSize() });
    });
  });
}

function socketOf(socketId: number): BoundSocket {
  const bound = sockets.get(socketId);
  // Internal: the reply carries the message, and CaptureThread.request turns it into ERR_CAPTURE.
  if (!bound) throw new Error(`capture socket ${socketId} is not bound`);
  return bound;
}

async function handle(request: CaptureRequest): Promise<Omit<Extract<CaptureEvent, { op: 'reply' }>, 'op' | 'id'>> {
  switch (request.op) {
    case 'bind':
      return bind(request.ip, request.receiveBufferBytes);
    case 'open': {
      const bound = socketOf(request.socketId);
      const journal = await JournalWriter.create(request.path, request.header, { flushIntervalMs: options.flushIntervalMs });
      if (!sockets.has(request.socketId)) {
        await journal.close();
        throw new Error(`capture socket ${request.socketId} was closed while its journal opened`);
      }
      bound.journals.set(request.header.ssrc, journal);
      if (request.header.kind === 'video') bound.lossWatches.set(request.header.ssrc, new LossWatch(options.lossRecoveryMs));
      return {};
    }
    case 'close': {
      const bound = sockets.get(request.socketId);
      const journal = bound?.journals.get(request.ssrc);
      bound?.journals.delete(request.ssrc);
      bound?.lossWatches.delete(request.ssrc);
      bound?.blocked.delete(request.ssrc);
      bound?.failed.delete(request.ssrc);
      await journal?.close();
      return { bytesWritten: journal?.bytesWritten ?? 0, ...(journal?.error ? { error: journal.error.message } : {}) };
    }
    case 'stats': {
      const bound = socketOf(request.socketId);
      // The histogram reports nanoseconds; a loop that never waited reports 0 (not its initial max).
      const longestStallMs = loopDelay.count > 0 ? Math.round(loopDelay.max / 1e5) / 10 : 0;
      return { received: bound.received, unrouted: bound.unrouted, longestStallMs, longestGcPauseMs: Math.round(longestGcPauseMs * 10) / 10 };
    }
    case 'unbind': {
      const bound = sockets.get(request.socketId);
      sockets.delete(request.socketId);
      if (!bound) return {};
      bound.socket.close();
      await Promise.all([...bound.journals.values()].map((journal) => journal.close()));
      return {};
    }
  }
}

// Unrecovered losses are looked for a few times per loss-recovery window, and a
// journal that started or stopped waiting for disk space is reported.
setInterval(() => {
  const now = monotonicMs();
  for (const [socketId, bound] of sockets) {
    for (const [ssrc, watch] of bound.lossWatches) if (watch.takeUnrecovered(now)) send({ op: 'unrecovered-loss', socketId, ssrc });
    for (const [ssrc, journal] of bound.journals) reportSpace(bound, socketId, ssrc, journal);
  }
}, Math.max(20, options.lossRecoveryMs / 4)).unref();

function reportSpace(bound: BoundSocket, socketId: number, ssrc: number, journal: JournalWriter): void {
  if (journal.error && !bound.failed.has(ssrc)) {
    bound.failed.add(ssrc);
    send({ op: 'journal-error', socketId, ssrc, message: journal.error.message });
  }
  const blockedBy = journal.blockedBy;
  if (blockedBy && !bound.blocked.has(ssrc)) {
    bound.blocked.add(ssrc);
    send({ op: 'journal-full', socketId, ssrc, message: blockedBy.message });
  } else if (!blockedBy && bound.blocked.has(ssrc)) {
    bound.blocked.delete(ssrc);
    send({ op: 'journal-resumed', socketId, ssrc, droppedPackets: journal.droppedPackets });
  }
}

port.on('message', (request: CaptureRequest) => {
  handle(request).then(
    (result) => send({ op: 'reply', id: request.id, ...result }),
    (error: unknown) => send({ op: 'reply', id: request.id, error: error instanceof Error ? error.message : String(error) }),
  );
});
