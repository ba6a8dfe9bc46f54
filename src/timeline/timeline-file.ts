import { appendFileSync, closeSync, existsSync, openSync, readFileSync, readSync, statSync, truncateSync } from 'node:fs';
import type { TimelineEvent } from './events.js';

/**
 * Appends timeline events to a JSON-lines file. Each event is written with one
 * synchronous append: events are rare (joins, mutes), and a crash right after
 * `append()` returns must not lose the event.
 *
 * A write that fails (a full disk) never throws at the caller: the event waits in
 * memory, in order, and goes out with the next append or {@link TimelineWriter.flush}.
 */
export class TimelineWriter {
  readonly path: string;
  readonly #onWriteError: ((error: Error) => void) | undefined;
  #unwritten = '';
  #closed = false;

  constructor(path: string, options: { onWriteError?: (error: Error) => void } = {}) {
    this.path = path;
    this.#onWriteError = options.onWriteError;
    // After a crash the last line may be torn; start on a fresh line so the next
    // event is not glued to it (the reader skips the torn part alone).
    if (existsSync(path) && !endsWithNewline(path)) this.#unwritten = '\n';
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** True while events wait in memory for a write to succeed. */
  get hasUnwritten(): boolean {
    return this.#unwritten !== '';
  }

  /** Appends `event` (ignored once closed). */
  append(event: TimelineEvent): void {
    if (this.#closed) return;
    this.#unwritten += `${JSON.stringify(event)}\n`;
    this.flush();
  }

  /** Writes what waits in memory; returns whether everything is on disk. */
  flush(): boolean {
    if (this.#unwritten === '') return true;
    const sizeBefore = existsSync(this.path) ? statSync(this.path).size : 0;
    try {
      appendFileSync(this.path, this.#unwritten);
      this.#unwritten = '';
      return true;
    } catch (error) {
      // A write cut short leaves half a line: take it back, so the retry is not glued to it.
      try {
        truncateSync(this.path, sizeBefore);
      } catch {
        // The reader skips a torn line anyway.
      }
      this.#onWriteError?.(error as Error);
      return false;
    }
  }

  /** No more events are taken; what waits in memory can still be flushed. */
  close(): void {
    this.#closed = true;
  }
}

/** What {@link readTimeline} found in a timeline file. */
export interface TimelineContents {
  events: TimelineEvent[];
  /** False when the file has no `session-ended` event (the recorder died mid-session). */
  complete: boolean;
  /** Lines that could not be parsed (a torn last line after a crash). */
  skippedLines: number;
}

/** Reads a timeline written by {@link TimelineWriter}, tolerating a torn last line. */
export function readTimeline(path: string): TimelineContents {
  const text = readFileSync(path, 'utf8');
  const events: TimelineEvent[] = [];
  let skippedLines = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      events.push(JSON.parse(line) as TimelineEvent);
    } catch {
      skippedLines++;
    }
  }
  events.sort((a, b) => a.at - b.at);
  return { events, complete: events.some((e) => e.type === 'session-ended'), skippedLines };
}

function endsWithNewline(path: string): boolean {
  const size = statSync(path).size;
  if (size === 0) return true;
  const fd = openSync(path, 'r');
  try {
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    return last[0] === 0x0a;
  } finally {
    closeSync(fd);
  }
}
