/**
 * The page the dashboard serves: `page/index.html` and `page/app.ts` bundled with
 * mediasoup-client by esbuild when the server starts, so nobody runs a build by hand.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'page');

export async function loadPage(): Promise<{ html: string; script: string }> {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [join(PAGE_DIR, 'app.ts')],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'chrome120',
    logLevel: 'silent',
  });
  return { html: await readFile(join(PAGE_DIR, 'index.html'), 'utf8'), script: result.outputFiles[0]!.text };
}
