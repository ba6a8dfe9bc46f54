import { closeSync, open as openFd, openSync, readSync, write, fsync, close as closeFd } from 'node:fs';
import { SfuRecorderError } from '../errors.js';

/**
 * The capture journal: one append-only file per tapped track, holding every RTP and
 * RTCP packet that arrived, each with its arrival time. Nothing is decoded during the
 * call; a torn last record (the process was killed mid-write) is simply ignored when
 * reading, so a crash can never make the journal unreadable.
 *
 * Layout: `MAGIC` (8 bytes) | u32 BE header length | header JSON |
 * records: u8 kind | u16 BE length | f64 BE arrival (monotonic ms) | packet bytes.
 */
export const JOURNAL_MAGIC = Buffer.from('SFURTPJ1', 'latin1');

/** Record kinds in a journal. */
export const JournalRecordKind = { Rtp: 1, Rtcp: 2 } as const;
export type JournalRecordKind = (typeof JournalRecordKind)[keyof typeof JournalRecordKind];

const RECORD_HEADER_SIZE = 11;
/** Bytes buffered per journal between flushes before a new chunk is started (~100 ms of 2 Mbps video). */
const CHUNK_SIZE = 32 * 1024;
/**
 * While the disk is full, packets wait in memory up to this much per journal (~16 s of
 * 2 Mbps video) and are written when space returns; packets beyond it are dropped, counted.
 */
const MAX_BLOCKED_BYTES = 4 * 1024 * 1024;
const BLOCKED_RETRY_MS = 1000;

/** What a journal says about its track; written once at the start of the file. */
export interface JournalHeader {
  version: 1;
  trackId: string;
  peerId: string;
  streamId: string;
  producerId: string;
  kind: 'audio' | 'video';
  /** e.g. `video/VP8`. */
  mimeType: string;
  clockRate: number;
  channels?: number;
  payloadType: number;
  ssrc: number;
  /** Codec parameters as negotiated (e.g. H.264 `packetization-mode`). */
  parameters?: Record<string, unknown>;
  /** Epoch ms = monotonic ms + this offset (the clock mediasoup's sender reports use). */
  monoToEpochMs: number;
  createdAt: number;
}

/** One packet as stored in a journal. */
export interface JournalRecord {
  kind: JournalRecordKind;
  /** Arrival time, monotonic milliseconds (same clock as mediasoup's RTCP NTP). */
  arrivalMono: number;
  data: Buffer;
}

/**
 * Monotonic milliseconds on the clock libuv uses (`uv_hrtime`), which is also the
 * clock mediasoup's worker writes into the NTP field of its RTCP sender reports.
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Options of {@link JournalWriter}. */
export interface JournalWriterOptions {
  /** How often what was appended is handed to the OS (what a `kill -9` can lose). Default 100 ms. */
  flushIntervalMs?: number;
}

/**
 * Appends packets to a journal. Packets are batched in memory and written
 * asynchronously at least every `flushIntervalMs` (default 100 ms), so a `kill -9`
 * loses at most that much. Nothing but the copy into memory happens on the caller's
 * thread: opening ({@link JournalWriter.create}), writing, fsync and closing go to the
 * libuv thread pool, so a slow disk never holds up the capture thread's socket reads.
 */
export class JournalWriter {
  readonly path: string;
  readonly header: JournalHeader;
  #fd: number;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** Records are copied into this chunk: no allocation per packet on the capture hot path. */
  #chunk = Buffer.allocUnsafe(CHUNK_SIZE);
  #chunkUsed = 0;
  #writing = false;
  #closed = false;
  #timer: NodeJS.Timeout;
  #drainWaiters: Array<() => void> = [];
  #bytesWritten = 0;
  #error: Error | undefined;
  #blockedBy: Error | undefined;
  #blockedAt = 0;
  #droppedPackets = 0;

  /** Creates the journal file (it must not exist) without blocking the thread, and writes its header. */
  static async create(path: string, header: JournalHeader, options: JournalWriterOptions = {}): Promise<JournalWriter> {
    const fd = await new Promise<number>((resolve, reject) => openFd(path, 'wx', (error, opened) => (error ? reject(error) : resolve(opened))));
    return new JournalWriter(path, header, options, fd);
  }

  /**
   * Creates the journal file (it must not exist) and writes its header. Without `fd` the
   * file is opened synchronously: fine for tools and tests; the capture thread uses
   * {@link JournalWriter.create}.
   */
  constructor(path: string, header: JournalHeader, options: JournalWriterOptions = {}, fd?: number) {
    this.path = path;
    this.header = header;
    this.#fd = fd ?? openSync(path, 'wx');
    const json = Buffer.from(JSON.stringify(header), 'utf8');
    const lead = Buffer.alloc(12);
    JOURNAL_MAGIC.copy(lead, 0);
    lead.writeUInt32BE(json.length, 8);
    this.#enqueue(Buffer.concat([lead, json]));
    this.#timer = setInterval(() => this.#flush(), options.flushIntervalMs ?? 100);
    this.#timer.unref();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes handed to the OS so far. */
  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  /**
   * The first write error other than a full disk, if any (the journal stops accepting
   * packets after one).
   */
  get error(): Error | undefined {
    return this.#error;
  }

  /**
   * Set while writes fail for lack of space (`ENOSPC`, `EDQUOT`): packets are kept in
   * memory (up to 4 MiB) and written as soon as space returns; writing is retried at
   * every flush.
   */
  get blockedBy(): Error | undefined {
    return this.#blockedBy;
  }

  /** Packets dropped because the disk stayed full longer than memory could hold them. */
  get droppedPackets(): number {
    return this.#droppedPackets;
  }

  append(kind: JournalRecordKind, data: Buffer, arrivalMono: number = monotonicMs()): void {
    if (this.#closed || this.#error) return;
    const size = RECORD_HEADER_SIZE + data.length;
    if (this.#blockedBy && this.#pendingBytes + this.#chunkUsed + size > MAX_BLOCKED_BYTES) {
      this.#droppedPackets++;
      return;
    }
    if (this.#chunkUsed + size > this.#chunk.length) this.#sealChunk(size);
    const chunk = this.#chunk;
    const offset = this.#chunkUsed;
    chunk.writeUInt8(kind, offset);
    chunk.writeUInt16BE(data.length, offset + 1);
    chunk.writeDoubleBE(arrivalMono, offset + 3);
    data.copy(chunk, offset + RECORD_HEADER_SIZE);
    this.#chunkUsed += size;
    if (!this.#blockedBy && this.#pendingBytes + this.#chunkUsed >= 256 * 1024) this.#flush();
  }

  /**
   * Writes everything pending, fsyncs, and closes the file. On a full disk, what
   * cannot be written after one last try is dropped: closing never waits for space.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#flush();
    while (this.#writing || (!this.#error && (this.#pending.length > 0 || this.#chunkUsed > 0))) {
      if (!this.#writing && this.#blockedBy) {
        this.#pending = [];
        this.#pendingBytes = 0;
        this.#chunkUsed = 0;
        break;
      }
      await new Promise<void>((resolve) => this.#drainWaiters.push(resolve));
      if (!this.#blockedBy) this.#flush();
    }
    // An error from fsync (some filesystems refuse it) is ignored: the data is written.
    await new Promise<void>((resolve) => fsync(this.#fd, () => resolve()));
    await new Promise<void>((resolve) => closeFd(this.#fd, () => resolve()));
  }

  #enqueue(chunk: Buffer): void {
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
  }

  /** Moves the filled part of the chunk to the write queue and starts a new chunk. */
  #sealChunk(nextRecordSize = 0): void {
    if (this.#chunkUsed > 0) this.#enqueue(this.#chunk.subarray(0, this.#chunkUsed));
    this.#chunk = Buffer.allocUnsafe(Math.max(CHUNK_SIZE, nextRecordSize));
    this.#chunkUsed = 0;
  }

  #flush(): void {
    // On a full disk, try again once a second, not at every flush: each try rewrites the backlog.
    if (this.#blockedBy && !this.#closed && monotonicMs() - this.#blockedAt < BLOCKED_RETRY_MS) return;
    if (!this.#writing && this.#chunkUsed > 0) this.#sealChunk();
    if (this.#writing || this.#pending.length === 0 || this.#error) {
      if (!this.#writing) this.#wakeDrainWaiters();
      return;
    }
    const chunk = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending, this.#pendingBytes);
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#writing = true;
    this.#writeAll(chunk, 0);
  }

  #writeAll(chunk: Buffer, offset: number): void {
    write(this.#fd, chunk, offset, chunk.length - offset, null, (err, written) => {
      if (err && isNoSpace(err)) {
        // Keep what was not written, in order, ahead of what came since: the file stays a
        // clean sequence of records and the next flush tries again.
        const rest = chunk.subarray(offset);
        this.#pending.unshift(rest);
        this.#pendingBytes += rest.length;
        this.#blockedBy = err;
        this.#blockedAt = monotonicMs();
        this.#writing = false;
        this.#wakeDrainWaiters();
        return;
      }
      if (err) {
        this.#error = err;
        this.#pending = [];
        this.#writing = false;
        this.#wakeDrainWaiters();
        return;
      }
      this.#blockedBy = undefined;
      this.#bytesWritten += written;
      if (offset + written < chunk.length) {
        this.#writeAll(chunk, offset + written);
        return;
      }
      this.#writing = false;
      if (this.#pending.length > 0 && (this.#closed || this.#pendingBytes >= 256 * 1024)) this.#flush();
      this.#wakeDrainWaiters();
    });
  }

  #wakeDrainWaiters(): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const wake of waiters) wake();
  }
}

function isNoSpace(error: NodeJS.ErrnoException): boolean {
  return error.code === 'ENOSPC' || error.code === 'EDQUOT';
}

/** The result of opening a journal for reading. */
export interface OpenedJournal {
  header: JournalHeader;
  /** Iterates the records in file order; stops silently at a torn last record. */
  records(): Generator<JournalRecord>;
}

/** Thrown when a file is not a journal at all (wrong magic or unreadable header). */
export class JournalFormatError extends SfuRecorderError {
  constructor(path: string, reason: string) {
    super('ERR_JOURNAL_UNREADABLE', `${path} is not a readable capture journal: ${reason}`);
    this.name = 'JournalFormatError';
  }
}

/**
 * Opens a journal for reading. Reading streams through the file in 1 MiB chunks, so
 * memory does not grow with the length of the recording.
 */
export function openJournal(path: string): OpenedJournal {
  const fd = openSync(path, 'r');
  let header: JournalHeader;
  let dataStart: number;
  try {
    const lead = Buffer.alloc(12);
    if (readSync(fd, lead, 0, 12, 0) < 12 || !lead.subarray(0, 8).equals(JOURNAL_MAGIC)) {
      throw new JournalFormatError(path, 'bad magic');
    }
    const length = lead.readUInt32BE(8);
    const json = Buffer.alloc(length);
    if (readSync(fd, json, 0, length, 12) < length) throw new JournalFormatError(path, 'torn header');
    try {
      header = JSON.parse(json.toString('utf8')) as JournalHeader;
    } catch {
      throw new JournalFormatError(path, 'header is not JSON');
    }
    dataStart = 12 + length;
  } finally {
    closeSync(fd);
  }

  function* records(): Generator<JournalRecord> {
    const fd = openSync(path, 'r');
    try {
      let buffer = Buffer.alloc(0);
      let position = dataStart;
      const chunk = Buffer.allocUnsafe(1024 * 1024);
      for (;;) {
        const read = readSync(fd, chunk, 0, chunk.length, position);
        if (read === 0) return;
        position += read;
        buffer = buffer.length === 0 ? Buffer.from(chunk.subarray(0, read)) : Buffer.concat([buffer, chunk.subarray(0, read)]);
        let offset = 0;
        while (buffer.length - offset >= RECORD_HEADER_SIZE) {
          const length = buffer.readUInt16BE(offset + 1);
          if (buffer.length - offset < RECORD_HEADER_SIZE + length) break;
          yield {
            kind: buffer.readUInt8(offset) as JournalRecordKind,
            arrivalMono: buffer.readDoubleBE(offset + 3),
            data: buffer.subarray(offset + RECORD_HEADER_SIZE, offset + RECORD_HEADER_SIZE + length),
          };
          offset += RECORD_HEADER_SIZE + length;
        }
        buffer = buffer.subarray(offset);
      }
    } finally {
      closeSync(fd);
    }
  }

  return { header: header!, records };
}
