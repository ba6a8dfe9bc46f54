import { closeSync, openSync, writeSync } from 'node:fs';
import { closedError } from '../../errors.js';

/**
 * A write-only file with a small in-memory buffer, written synchronously in
 * chunks: intermediates are written as frames come out of the depacketiser, so
 * memory stays flat however long the recording is.
 */
export class BufferedFile {
  readonly path: string;
  #fd: number | undefined;
  #chunks: Buffer[] = [];
  #pendingBytes = 0;
  #position = 0;

  constructor(path: string) {
    this.path = path;
    this.#fd = openSync(path, 'w');
  }

  /** Bytes written so far (including the buffer). */
  get position(): number {
    return this.#position;
  }

  write(data: Buffer): void {
    this.#chunks.push(data);
    this.#pendingBytes += data.length;
    this.#position += data.length;
    if (this.#pendingBytes >= 1024 * 1024) this.flush();
  }

  /** Overwrites bytes already written (a header field), after flushing. */
  writeAt(data: Buffer, position: number): void {
    this.flush();
    writeSync(this.#requireFd(), data, 0, data.length, position);
  }

  flush(): void {
    if (this.#pendingBytes === 0) return;
    const data = Buffer.concat(this.#chunks, this.#pendingBytes);
    this.#chunks = [];
    this.#pendingBytes = 0;
    let offset = 0;
    const fd = this.#requireFd();
    while (offset < data.length) offset += writeSync(fd, data, offset, data.length - offset, this.#position - data.length + offset);
  }

  close(): void {
    if (this.#fd === undefined) return;
    this.flush();
    closeSync(this.#fd);
    this.#fd = undefined;
  }

  #requireFd(): number {
    if (this.#fd === undefined) throw closedError(this.path);
    return this.#fd;
  }
}
