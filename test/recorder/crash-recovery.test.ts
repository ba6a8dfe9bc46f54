import { execa } from 'execa';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SfuRecorder, type RecordingStoredEvent, type SessionFinalisedInfo, type SfuRecorderError } from '../../src/index.js';
import { decodeErrors, firstVideoFrame, probeFile } from '../helpers/mux-probe.js';
import { capturedPresence, sleep, tempDir } from '../helpers/recorder-fixtures.js';

function kill(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

describe('crash safety', () => {
  it('recovers a recording cut by kill -9, missing at most the last second', async () => {
    const spoolDir = tempDir('spool');
    const storageRoot = tempDir('storage');
    // node itself (not npx) so that SIGKILL hits the recording process, not a wrapper.
    const child = execa(process.execPath, ['--import', 'tsx', 'test/fixtures/record-until-killed.ts', spoolDir, storageRoot], {
      stdin: 'ignore',
      reject: false,
      buffer: false,
    });
    const pids = await new Promise<{ ffmpegPid?: number; workerPid?: number; sessionId: string }>((resolve, reject) => {
      let text = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        const line = text.split('\n').find((l) => l.startsWith('{'));
        if (line) resolve(JSON.parse(line));
      });
      child.once('exit', (code) => reject(new Error(`recording process exited early (${code})`)));
    });
    // A second process on the same spool is refused while the first one lives.
    const refused = await SfuRecorder.create({ spoolDir, defaultStorage: { root: storageRoot }, recoverOnStart: false }).then(
      () => undefined,
      (error: unknown) => error as SfuRecorderError,
    );
    expect(refused?.code).toBe('ERR_SPOOL_LOCKED');
    expect(refused?.message).toContain(`in use by process ${child.pid}`);
    await sleep(6000);
    const killedAt = Date.now();
    kill(child.pid);
    await child;
    kill(pids.ffmpegPid);
    kill(pids.workerPid);

    const recorder = await SfuRecorder.create({ spoolDir, defaultStorage: { root: storageRoot }, recoverOnStart: false });
    const stored: RecordingStoredEvent[] = [];
    recorder.on('recordingstored', (event) => stored.push(event));
    // The dead process's lock does not hold the spool.
    const recovered: SessionFinalisedInfo[] = await recorder.recover();
    await recorder.whenIdle();
    await recorder.close();
    // Another start finds nothing left to do: nothing is stored twice.
    const again = await SfuRecorder.create({ spoolDir, defaultStorage: { root: storageRoot }, recoverOnStart: false });
    again.on('recordingstored', (event) => stored.push(event));
    expect(await again.recover()).toEqual([]);
    await again.whenIdle();
    await again.close();

    expect(recovered).toHaveLength(1);
    expect(recovered[0]!.sessionId).toBe(pids.sessionId);
    expect(stored).toHaveLength(1);
    const file = stored[0]!.location;
    const presence = capturedPresence(join(spoolDir, 'crash-room', pids.sessionId), stored[0]!.metadata.streamId!);
    // Everything up to one second before the kill made it to disk...
    expect(killedAt - presence.to).toBeLessThanOrEqual(1000);
    // ...and into a playable file that lasts as long as what was captured.
    const probe = await probeFile(file);
    expect(probe.streams.map((s) => s.codec_name).sort()).toEqual(['aac', 'h264']);
    expect(Math.abs(probe.durationS * 1000 - (presence.to - presence.from))).toBeLessThanOrEqual(100);
    expect(probe.durationS).toBeGreaterThan(4);
    expect((await firstVideoFrame(file)).keyframe).toBe(true);
    expect(await decodeErrors(file)).toBe('');
  }, 120_000);
});
