import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli.js';
import { sessionPaths } from '../../src/spool/layout.js';
import { createSyntheticSession, scratchDir } from '../helpers/compose-session.js';

function capture() {
  const out = { stdout: '', stderr: '' };
  return { out, io: { stdout: (t: string) => void (out.stdout += t), stderr: (t: string) => void (out.stderr += t) } };
}

describe('sfu-recorder compose (CLI)', () => {
  let dir: string;

  beforeAll(async () => {
    dir = scratchDir('cli');
    await createSyntheticSession(join(dir, 'session'), {
      durationMs: 3000,
      width: 80,
      height: 44,
      peers: [{ peerId: 'peer-a', colour: '0xff0000', toneHz: 700, joinAt: 0 }],
    });
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('composes a session directory, printing progress and the result', async () => {
    const { out, io } = capture();
    const out2 = join(dir, 'out.mp4');
    const code = await runCli(['compose', join(dir, 'session'), '--width', '160', '--height', '90', '--fps', '15', '--preset', 'ultrafast', '--layout', 'speaker', '--out', out2], io);
    expect(code, out.stderr).toBe(0);
    expect(out.stderr).toMatch(/composing 100% \(done/);
    expect(JSON.parse(out.stdout)).toMatchObject({ file: out2, width: 160, height: 90, fps: 15 });
    expect(existsSync(out2)).toBe(true);
  });

  it('exits 2 on bad usage and 1 with a clear message on errors', async () => {
    let c = capture();
    expect(await runCli(['compose'], c.io)).toBe(2);
    expect(c.out.stderr).toContain('missing <session dir>');
    c = capture();
    expect(await runCli(['compose', dir, '--layout', 'mosaic'], c.io)).toBe(2);
    expect(c.out.stderr).toContain('--layout');
    c = capture();
    expect(await runCli(['compose', join(dir, 'nope')], c.io)).toBe(1);
    expect(c.out.stderr).toMatch(/ERR_COMPOSE_SOURCE_MISSING: .*nope.*timeline\.jsonl/);
  });

  it('tells a bad option value by its flag, as bad usage', async () => {
    const c = capture();
    expect(await runCli(['compose', join(dir, 'session'), '--width', '641'], c.io)).toBe(2);
    expect(c.out.stderr).toBe('--width must be an even integer from 16 to 8192 (got 641)\n');
  });

  it('reports a failure as one line with its code, without ffmpeg\'s whole stderr', async () => {
    const broken = join(dir, 'broken');
    cpSync(join(dir, 'session'), broken, { recursive: true });
    const mp4 = sessionPaths.streamFile(broken, 'peer-a', 'peer-a-s1');
    const json = sessionPaths.streamResult(broken, 'peer-a', 'peer-a-s1');
    writeFileSync(json, JSON.stringify({ ...JSON.parse(readFileSync(json, 'utf8')), file: mp4 }));
    writeFileSync(mp4, Buffer.alloc(4096, 7));
    const c = capture();
    expect(await runCli(['compose', broken, '--quiet'], c.io)).toBe(1);
    const lines = c.out.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^sfu-recorder compose failed: ERR_COMPOSE_SOURCE_BROKEN: .*peer-a-s1.*Invalid data found/);
  });

  it('exits 130 when interrupted, saying so', async () => {
    const c = capture();
    expect(await runCli(['compose', join(dir, 'session'), '--quiet'], c.io, AbortSignal.abort())).toBe(130);
    expect(c.out.stderr).toBe('sfu-recorder compose interrupted: no composite was written\n');
  });

  it('runs as a command', async () => {
    const result = await execa('npx', ['tsx', 'src/cli.ts', 'compose', join(dir, 'missing')], { reject: false });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('sfu-recorder compose failed');
  });
});
