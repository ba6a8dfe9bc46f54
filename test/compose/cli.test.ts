import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli.js';
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

  it('runs as a command', async () => {
    const result = await execa('npx', ['tsx', 'src/cli.ts', 'compose', join(dir, 'missing')], { reject: false });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('sfu-recorder compose failed');
  });
});
