import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { runFfmpeg } from '../ffmpeg/index.js';
import { escapeFilterValue } from './filtergraph.js';

const FONT_DIRS = ['/usr/share/fonts', '/usr/local/share/fonts', '/System/Library/Fonts', '/Library/Fonts', 'C:\\Windows\\Fonts'];
const PREFERRED = /dejavusans\.ttf$|liberationsans-regular\.ttf$|notosans-regular\.ttf$|arial\.ttf$/i;

const verified = new Map<string, Promise<string | undefined>>();

/**
 * A font file drawtext can render name tiles with: `explicit`, `SFU_RECORDER_FONT`,
 * `fc-match sans`, then a scan of the usual font directories. The static ffmpeg build has
 * no usable fontconfig setup of its own, so the file is always passed explicitly. The
 * choice is checked once per process with a one-frame render; `undefined` means name
 * tiles are drawn as plain coloured tiles.
 */
export function findNameTileFont(ffmpegPath: string, explicit?: string): Promise<string | undefined> {
  const key = `${ffmpegPath}\0${explicit ?? ''}`;
  let found = verified.get(key);
  if (!found) {
    found = locate(explicit).then(async (font) => (font && (await drawtextWorks(ffmpegPath, font)) ? font : undefined));
    verified.set(key, found);
  }
  return found;
}

async function locate(explicit?: string): Promise<string | undefined> {
  for (const candidate of [explicit, process.env.SFU_RECORDER_FONT]) if (candidate && existsSync(candidate)) return candidate;
  try {
    const { stdout } = await execa('fc-match', ['-f', '%{file}', 'sans'], { timeout: 5000, stdin: 'ignore' });
    if (stdout && existsSync(stdout)) return stdout;
  } catch {
    // No fontconfig on this system: scan the usual places.
  }
  const fonts: string[] = [];
  for (const dir of FONT_DIRS) scan(dir, fonts, 0);
  return fonts.find((f) => PREFERRED.test(f)) ?? fonts[0];
}

function scan(dir: string, out: string[], depth: number): void {
  if (depth > 4 || out.length > 200) return;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) scan(path, out, depth + 1);
    else if (/\.(ttf|otf)$/i.test(entry.name)) out.push(path);
  }
}

async function drawtextWorks(ffmpegPath: string, font: string): Promise<boolean> {
  try {
    await runFfmpeg(
      ffmpegPath,
      ['-f', 'lavfi', '-i', `color=s=64x36:d=0.04,drawtext=fontfile=${escapeFilterValue(font)}:text=ok`, '-frames:v', '1', '-f', 'null', '-'],
      { label: 'drawtext check' },
    );
    return true;
  } catch {
    return false;
  }
}
