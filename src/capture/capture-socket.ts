import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { EnhancedEventEmitter } from '../enhanced-events.js';
import { closedError, SfuRecorderError } from '../errors.js';
import type { CaptureEvent, CaptureRequest, CaptureWorkerData } from './capture-protocol.js';
import type { JournalHeader } from './journal.js';

type Reply = Extract<CaptureEvent, { op: 'reply' }>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * The receive buffer each capture socket asks for: about half a second of 100 peers at
 * ~1 Mbps. Linux caps the request at `net.core.rmem_max` (and reports twice what it
 * allows, the other half being its own bookkeeping).
 */
export const DEFAULT_RECEIVE_BUFFER_BYTES = 8 * 1024 * 1024;

/** Options of {@link CaptureThread.start}. */
export interface CaptureThreadOptions {
  /** How often journals are flushed to the OS (what a `kill -9` can lose). Default 100 ms. */
  flushIntervalMs?: number;
  /**
   * How long a missing video packet may take to arrive (mediasoup repairs loss from the
   * sender with NACK/RTX) before the track counts as undecodable. Default 400 ms.
   */
  lossRecoveryMs?: number;
}

/** Events of a {@link CaptureThread}. */
export interface CaptureThreadEvents {
  /** The thread died (an uncaught error or an exit not asked for): every socket on it is gone. */
  died: [SfuRecorderError];
}

/**
 * The thread every session's capture runs on. Sockets and journals live there:
 * packets are demultiplexed by SSRC and appended to their track's journal without
 * ever waiting for the host application's event loop, so a busy application cannot
 * make the kernel drop packets. One per recorder; sessions get a {@link CaptureSocket} each.
 */
export class CaptureThread extends EnhancedEventEmitter<CaptureThreadEvents> {
  readonly #worker: Worker;
  readonly #pending = new Map<number, (reply: Reply) => void>();
  readonly #listeners = new Map<number, (event: Exclude<CaptureEvent, Reply>) => void>();
  #nextId = 1;
  #closed = false;
  #failure: Error | undefined;
  #receiveBufferWarned = false;

  private constructor(worker: Worker) {
    super();
    this.#worker = worker;
    worker.on('message', (event: CaptureEvent) => this.#onEvent(event));
    worker.on('error', (error) =>
      this.#fail(new SfuRecorderError('ERR_CAPTURE_THREAD', `the capture thread died: ${error.message}`, { cause: error })),
    );
    worker.on('exit', (code) => {
      if (!this.#closed) this.#fail(new SfuRecorderError('ERR_CAPTURE_THREAD', `the capture thread exited (code ${code})`));
    });
  }

  static start(options: CaptureThreadOptions = {}): CaptureThread {
    return new CaptureThread(startCaptureWorker({ flushIntervalMs: options.flushIntervalMs ?? 100, lossRecoveryMs: options.lossRecoveryMs ?? 400 }));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Set once the thread died. */
  get died(): boolean {
    return this.#failure !== undefined;
  }

  /**
   * Binds a new UDP socket on the capture thread (ephemeral port). When the kernel grants
   * less receive buffer than asked for, a process warning (`SFU_RECORDER_RECEIVE_BUFFER`,
   * once per capture thread) says so and how to raise the limit: a smaller buffer is what
   * makes a short stall of the capture thread lose packets.
   */
  async openSocket(options: { ip?: string; receiveBufferBytes?: number } = {}): Promise<CaptureSocket> {
    const requested = options.receiveBufferBytes ?? DEFAULT_RECEIVE_BUFFER_BYTES;
    const reply = await this.request({ op: 'bind', ip: options.ip ?? '127.0.0.1', receiveBufferBytes: requested });
    const socket = new CaptureSocket(this, reply.socketId!, { ip: reply.ip!, port: reply.port! }, reply.receiveBufferBytes!, requested);
    if (socket.receiveBufferCapped && !this.#receiveBufferWarned) {
      this.#receiveBufferWarned = true;
      warnReceiveBufferCapped(requested, socket.receiveBufferBytes);
    }
    return socket;
  }

  /** Stops the thread. Sockets still open are closed without flushing: close them first. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#worker.terminate();
  }

  /** @internal Stops the thread as a crash would (tests of the recorder's reaction). */
  async crashForTesting(): Promise<void> {
    await this.#worker.terminate();
  }

  /** @internal */
  request(request: DistributiveOmit<CaptureRequest, 'id'>): Promise<Reply> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#closed) return Promise.reject(closedError('the capture thread'));
    const id = this.#nextId++;
    return new Promise<Reply>((resolve, reject) => {
      this.#pending.set(id, (reply) =>
        reply.error && request.op !== 'close' ? reject(new SfuRecorderError('ERR_CAPTURE', reply.error)) : resolve(reply),
      );
      this.#worker.postMessage({ ...request, id });
    });
  }

  /** @internal */
  listen(socketId: number, listener: ((event: Exclude<CaptureEvent, Reply>) => void) | undefined): void {
    if (listener) this.#listeners.set(socketId, listener);
    else this.#listeners.delete(socketId);
  }

  #onEvent(event: CaptureEvent): void {
    if (event.op === 'reply') {
      const settle = this.#pending.get(event.id);
      this.#pending.delete(event.id);
      settle?.(event);
      return;
    }
    this.#listeners.get(event.socketId)?.(event);
  }

  #fail(error: SfuRecorderError): void {
    if (this.#failure) return;
    this.#failure = error;
    for (const settle of this.#pending.values()) settle({ op: 'reply', id: 0, error: error.message });
    this.#pending.clear();
    for (const listener of this.#listeners.values()) listener({ op: 'socket-error', socketId: 0, message: error.message });
    this.emit('died', error);
  }
}

/** What can happen to a journal while it is being written. */
export type JournalFault =
  /** A write failed (not for space): the journal stops growing. */
  | { type: 'failed'; error: SfuRecorderError }
  /** The disk is full: packets wait in memory until space returns. */
  | { type: 'full'; error: SfuRecorderError }
  /** Space returned; `droppedPackets` could not be kept meanwhile. */
  | { type: 'resumed'; droppedPackets: number };

/** Callbacks of one journal. */
export interface JournalCallbacks {
  /** Video packets were lost for good: the track needs a keyframe. */
  onUnrecoveredLoss?: () => void;
  /** Told at once, so a fault is never first noticed when the track ends. */
  onFault?: (fault: JournalFault) => void;
}

/** What {@link CaptureSocket.stats} reports. */
export interface CaptureSocketStats {
  received: number;
  unrouted: number;
  /** The capture thread's longest event-loop delay so far (ms, 10 ms resolution). */
  longestStallMs: number;
  /** The capture thread's longest garbage-collection pause so far (ms). */
  longestGcPauseMs: number;
}

/**
 * Whether a granted receive buffer is smaller than asked for. Linux doubles what it grants
 * (half is bookkeeping), so there the grant must reach twice the request.
 */
export function isReceiveBufferCapped(requestedBytes: number, grantedBytes: number, platform: NodeJS.Platform = process.platform): boolean {
  return grantedBytes < (platform === 'linux' ? 2 * requestedBytes : requestedBytes);
}

function warnReceiveBufferCapped(requestedBytes: number, grantedBytes: number): void {
  const mib = (bytes: number) => `${Math.round((bytes / 1048576) * 10) / 10} MiB`;
  const usable = process.platform === 'linux' ? grantedBytes / 2 : grantedBytes;
  process.emitWarning(
    `sfu-recorder: capture sockets asked for ${mib(requestedBytes)} of receive buffer and the kernel granted ${mib(usable)}; ` +
      'more traffic than that, queued while the capture thread is held up, is lost' +
      (process.platform === 'linux' ? ` (raise net.core.rmem_max: sysctl -w net.core.rmem_max=${requestedBytes})` : ''),
    { code: 'SFU_RECORDER_RECEIVE_BUFFER' },
  );
}

/** A journal being written on the capture thread. */
export interface CaptureJournal {
  readonly path: string;
  readonly header: JournalHeader;
  /** The first write error, if any (the journal stops growing after one). */
  readonly error: Error | undefined;
  /** Stops routing its SSRC and closes the file once everything received is written. */
  close(): Promise<void>;
}

/**
 * One session's UDP socket on the capture thread: the session's PlainTransport sends
 * every tapped consumer here, and each SSRC goes to its journal.
 */
export class CaptureSocket {
  readonly #thread: CaptureThread;
  readonly #socketId: number;
  readonly #journalErrors = new Map<number, Error>();
  readonly #callbacks = new Map<number, JournalCallbacks>();
  /** Where the PlainTransport must send. */
  readonly address: { ip: string; port: number };
  /** The receive buffer the kernel actually granted (`getRecvBufferSize()`; Linux reports twice the usable size). */
  readonly receiveBufferBytes: number;
  /** The receive buffer asked for. */
  readonly receiveBufferRequestedBytes: number;
  #closed = false;
  #error: Error | undefined;

  /** @internal Use {@link CaptureThread.openSocket}. */
  constructor(thread: CaptureThread, socketId: number, address: { ip: string; port: number }, receiveBufferBytes: number, requestedBytes = receiveBufferBytes) {
    this.#thread = thread;
    this.#socketId = socketId;
    this.address = address;
    this.receiveBufferBytes = receiveBufferBytes;
    this.receiveBufferRequestedBytes = requestedBytes;
    thread.listen(socketId, (event) => {
      switch (event.op) {
        case 'journal-error': {
          const error = new SfuRecorderError('ERR_JOURNAL_WRITE', `writing a capture journal failed: ${event.message}`);
          this.#journalErrors.set(event.ssrc, error);
          this.#callbacks.get(event.ssrc)?.onFault?.({ type: 'failed', error });
          break;
        }
        case 'journal-full':
          this.#callbacks.get(event.ssrc)?.onFault?.({
            type: 'full',
            error: new SfuRecorderError('ERR_SPOOL_FULL', `no space left for a capture journal: ${event.message}`),
          });
          break;
        case 'journal-resumed':
          this.#callbacks.get(event.ssrc)?.onFault?.({ type: 'resumed', droppedPackets: event.droppedPackets });
          break;
        case 'unrecovered-loss':
          this.#callbacks.get(event.ssrc)?.onUnrecoveredLoss?.();
          break;
        case 'socket-error':
          this.#error ??= new SfuRecorderError('ERR_CAPTURE_SOCKET', `capture socket failed: ${event.message}`);
          break;
      }
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** True when the kernel granted less receive buffer than asked for (`net.core.rmem_max` on Linux). */
  get receiveBufferCapped(): boolean {
    return isReceiveBufferCapped(this.receiveBufferRequestedBytes, this.receiveBufferBytes);
  }

  /** Set when the socket itself failed. */
  get error(): Error | undefined {
    return this.#error;
  }

  /** Creates the journal file (it must not exist) and routes `header.ssrc` into it. */
  async openJournal(path: string, header: JournalHeader, callbacks: JournalCallbacks = {}): Promise<CaptureJournal> {
    await this.#thread.request({ op: 'open', socketId: this.#socketId, path, header });
    const ssrc = header.ssrc;
    this.#callbacks.set(ssrc, callbacks);
    const errors = this.#journalErrors;
    let closing: Promise<void> | undefined;
    return {
      path,
      header,
      get error() {
        return errors.get(ssrc);
      },
      close: () => {
        this.#callbacks.delete(ssrc);
        closing ??= this.#closed
          ? Promise.resolve()
          : this.#thread.request({ op: 'close', socketId: this.#socketId, ssrc }).then(
              (reply) => {
                if (reply.error && !errors.has(ssrc)) {
                  errors.set(ssrc, new SfuRecorderError('ERR_JOURNAL_WRITE', `writing a capture journal failed: ${reply.error}`));
                }
              },
              () => undefined,
            );
        return closing;
      },
    };
  }

  /**
   * Packets received in total, those for no open journal, and what the capture thread
   * saw of itself: its longest event-loop stall and garbage-collection pause since it
   * started (what decides whether the receive buffer overflows).
   */
  async stats(): Promise<CaptureSocketStats> {
    const reply = await this.#thread.request({ op: 'stats', socketId: this.#socketId });
    return {
      received: reply.received ?? 0,
      unrouted: reply.unrouted ?? 0,
      longestStallMs: reply.longestStallMs ?? 0,
      longestGcPauseMs: reply.longestGcPauseMs ?? 0,
    };
  }

  /** Closes the socket and every journal still open (everything received is written). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#thread.request({ op: 'unbind', socketId: this.#socketId }).catch(() => undefined);
    this.#thread.listen(this.#socketId, undefined);
  }
}

/**
 * Starts `capture-worker`: the built `.js` next to this module when there is one (the
 * published package), else the TypeScript source through tsx (tests and `tsx` runs).
 */
function startCaptureWorker(workerData: CaptureWorkerData): Worker {
  const built = new URL('./capture-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(built))) return new Worker(built, { workerData });
  const source = pathToFileURL(fileURLToPath(new URL('./capture-worker.ts', import.meta.url))).href;
  const loader = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(source)}); })
    .catch((error) => { setImmediate(() => { throw error; }); });`;
  return new Worker(loader, { eval: true, workerData });
}
