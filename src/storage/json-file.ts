import { randomBytes } from 'node:crypto';
import { open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Writes `value` as JSON to `path` atomically: a reader (or a process restarted after a
 * crash) sees the old content or the new one, never a torn file. Data is fsynced before
 * the rename.
 */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(value, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

/**
 * Reads every `*.json` in `dir` (created if missing), deletes leftover `*.tmp` files of
 * interrupted writes, and reports unreadable files through `onBad` instead of throwing.
 */
export async function readJsonDir<T>(dir: string, onBad: (file: string, error: unknown) => void): Promise<T[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const out: T[] = [];
  for (const name of names.sort()) {
    const file = join(dir, name);
    if (name.endsWith('.tmp')) {
      await rm(file, { force: true });
      continue;
    }
    if (!name.endsWith('.json')) continue;
    try {
      out.push(JSON.parse(await readFile(file, 'utf8')) as T);
    } catch (error) {
      onBad(file, error);
    }
  }
  return out;
}
