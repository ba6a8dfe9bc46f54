import { readdirSync } from 'node:fs';

/** Names of the directories directly inside `dir`; empty when `dir` does not exist. */
export function listSubdirectories(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
  } catch {
    return [];
  }
}
