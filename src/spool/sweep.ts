import { readFileSync, rmSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';
import { sessionPaths, type SessionManifest } from './layout.js';
import { listSubdirectories } from './list.js';

/** Options of {@link sweepSpool}. */
export interface SweepOptions {
  /** Finalised sessions older than this (since finalisation) are removed. */
  keepSessionsMs: number;
  /** Files still owned by someone (an upload not yet confirmed, a failed one kept for retry). */
  filesInUse: readonly string[];
  now?: number;
}

/**
 * Removes finalised sessions (capture journals, timeline, finalised streams) once they
 * are older than `keepSessionsMs`, so the spool does not grow without bound. A session
 * holding a file that an upload still needs is never touched, nor is one that is not
 * finalised (it is live, or waits for recovery). Returns the directories removed.
 */
export function sweepSpool(spoolDir: string, options: SweepOptions): string[] {
  const now = options.now ?? Date.now();
  const removed: string[] = [];
  for (const room of listSubdirectories(spoolDir)) {
    if (room.startsWith('.')) continue;
    for (const session of listSubdirectories(join(spoolDir, room))) {
      const dir = join(spoolDir, room, session);
      const manifestPath = sessionPaths.manifest(dir);
      let manifest: SessionManifest;
      let finalisedAt: number;
      try {
        manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as SessionManifest;
        finalisedAt = statSync(manifestPath).mtimeMs;
      } catch {
        continue;
      }
      if (manifest.state !== 'finalised' || now - finalisedAt < options.keepSessionsMs) continue;
      if (options.filesInUse.some((file) => file.startsWith(dir + sep))) continue;
      rmSync(dir, { recursive: true, force: true });
      removed.push(dir);
    }
  }
  return removed;
}
