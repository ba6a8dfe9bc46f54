import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { sessionPaths, type SessionManifest } from './layout.js';

/** Writes `session.json` atomically: a crash leaves the old or the new one, never half. */
export function writeManifest(dir: string, manifest: SessionManifest): void {
  const path = sessionPaths.manifest(dir);
  writeFileSync(`${path}.tmp`, `${JSON.stringify(manifest, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
}

/** The session's `session.json`, or undefined when it is missing or unreadable. */
export function readManifest(dir: string): SessionManifest | undefined {
  try {
    return JSON.parse(readFileSync(sessionPaths.manifest(dir), 'utf8')) as SessionManifest;
  } catch {
    return undefined;
  }
}
