import { appendFileSync, closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import type { TimelineEvent } from './events.js';

/**
 * Appends timeline events to a JSON-lines file. Each event is written with one
 * synchronous append: events are rare (joins, mutes), and a crash right after
 * `append()` returns must not lose the event.
 */
export class TimelineWriter {
  readonly path: string;
  #closed = false;

  constructor(path: string) {
    this.path = path;
    // After a crash the last line may be torn; start on a fresh line so the next
    // event is not glued to it (the reader skips the torn part alone).
    if (existsSync(path) && !endsWithNewline(path)) appendFileSync(path, '\n');
  }

  get closed(): boolean {
    return this.#closed;
  }

  append(event: TimelineEvent): void {
    if (this.#closed) throw new Error(`timeline ${this.path} is closed`);
    appendFileSync(this.path, `${JSON.stringify(event)}\n`);
  }

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
