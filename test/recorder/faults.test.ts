import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { types as ms } from 'mediasoup';
import type {
  SfuRecorderError} from '../../src/index.js';
import {
  SfuRecorder,
  type RecorderErrorContext,
  type RecordingStoredEvent,
  type SessionEndedInfo,
  type SessionFinalisedInfo,
} from '../../src/index.js';
import { CaptureThread } from '../../src/capture/capture-socket.js';
import { listSessionStreams } from '../../src/mux/index.js';
import { SyntheticPeer } from '../../src/testing/index.js';
import { probeFile } from '../helpers/mux-probe.js';
import { capturedPresence, sleep, startRouter, tempDir, untilCaptured } from '../helpers/recorder-fixtures.js';

const VIDEO = { codec: 'VP8' as const, width: 320, height: 180, bitrateKbps: 300 };

interface Recorded {
  recorder: SfuRecorder;
  errors: Array<{ error: SfuRecorderError; context: RecorderErrorContext }>;
  stored: RecordingStoredEvent[];
  ended: SessionEndedInfo[];
  finalised: SessionFinalisedInfo[];
}

async function recorderOn(spoolDir: string, storageRoot: string, options: Parameters<typeof SfuRecorder.create>[0] = {}): Promise<Recorded> {
  const recorder = await SfuRecorder.create({
    spoolDir,
    defaultStorage: { root: storageRoot },
    recoverOnStart: false,
    gracePeriodMs: 300,
    reconnectWindowMs: 0,
    individualOptions: { x264Preset: 'ultrafast' },
    compositeOptions: { width: 320, height: 180, preset: 'ultrafast' },
    ...options,
  });
  const recorded: Recorded = { recorder, errors: [], stored: [], ended: [], finalised: [] };
  recorder.on('error', (error, context) => recorded.errors.push({ error, context }));
  recorder.on('recordingstored', (event) => recorded.stored.push(event));
  recorder.on('sessionended', (info) => recorded.ended.push(info));
  recorder.on('sessionfinalised', (info) => recorded.finalised.push(info));
  return recorded;
}

async function until(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('faults and hostile input', () => {
  let worker: ms.Worker;
  let router: ms.Router;

  beforeAll(async () => {
    ({ worker, router } = await startRouter());
  });

  afterAll(() => worker?.close());

  it('checks ids once, in UTF-8 bytes, where they enter: an accepted id fits every path and key it becomes', async () => {
    // 128 bytes each: the longest ids accepted. A rejoin makes the stream id 130 bytes (`-2`).
    const longest = { peerId: `p${'é'.repeat(63)}x`, streamId: '🎥'.repeat(32) };
    const identities: Record<string, { peerId: string; streamId: string }> = {
      longest,
      accents: { peerId: 'accents', streamId: 'é'.repeat(65) },
      emoji: { peerId: 'emoji', streamId: '🎥'.repeat(100) },
      ascii: { peerId: 'ascii', streamId: 'a'.repeat(200) },
    };
    const { recorder, errors, stored, finalised } = await recorderOn(tempDir('spool'), tempDir('storage'), {
      identifyProducer: (producer) => identities[(producer.appData as { as: string }).as],
      // The rejoin below continues the session (the refused peers never joined it).
      gracePeriodMs: 10_000,
    });
    const room = await recorder.enableRoom({ roomId: `r${'é'.repeat(60)}`, router, recording: { composite: false } });
    const peers = await Promise.all(
      ['longest', 'accents', 'emoji', 'ascii'].map((as) => SyntheticPeer.create(router, { peerId: as, video: VIDEO, appData: { as } })),
    );
    const sessionDir = () => room.sessionId && join(recorder.spoolDir, room.roomId, room.sessionId);
    await untilCaptured(sessionDir, longest.streamId, 1000);
    peers[0]!.close();
    await sleep(300);
    const again = await SyntheticPeer.create(router, { peerId: 'longest', video: VIDEO, appData: { as: 'longest' } });
    await untilCaptured(sessionDir, `${longest.streamId}-2`, 1000);
    for (const peer of [again, ...peers]) peer.close();
    await room.stop();
    await until(() => finalised.length === 1, 'the session to be finalised');
    await recorder.whenIdle();
    await recorder.close();

    // The three ids over the limit were refused at the door, naming the field and the size.
    const refused = errors.filter((e) => e.error.code === 'ERR_INVALID_CONFIG');
    // One refusal per producer (camera and microphone).
    expect(refused).toHaveLength(6);
    expect([...new Set(refused.map((e) => e.error.message))].sort()).toEqual([
      expect.stringMatching(/^streamId is 130 bytes in UTF-8 \(65 characters\).*at most 128 bytes/),
      expect.stringMatching(/^streamId is 200 bytes in UTF-8 \(200 characters\)/),
      expect.stringMatching(/^streamId is 400 bytes in UTF-8 \(100 characters\)/),
    ]);
    expect(refused.every((e) => (e.error as { field?: string }).field === 'streamId')).toBe(true);
    expect(errors.filter((e) => e.error.code !== 'ERR_INVALID_CONFIG')).toEqual([]);
    // Both instances of the accepted stream were finalised and stored: none was lost in delivery.
    expect(finalised[0]!.errors).toEqual([]);
    expect(stored.map((s) => s.metadata.streamId).sort()).toEqual([longest.streamId, `${longest.streamId}-2`].sort());
    for (const event of stored) {
      expect(Buffer.byteLength(event.key)).toBeLessThanOrEqual(1024);
      expect(existsSync(event.location)).toBe(true);
      // Playable; on a busy host a 1.5 s stream may not have reached its first keyframe.
      expect((await probeFile(event.location)).streams.map((s) => s.codec_name)).toContain('aac');
    }
  }, 90_000);

  it('a listener that throws or rejects is reported and never keeps a session from its files', async () => {
    const spoolDir = tempDir('spool');
    const logged: string[] = [];
    const { recorder, errors, stored, finalised } = await recorderOn(spoolDir, tempDir('storage'), {
      logger: { error: (message) => logged.push(message) },
    });
    recorder.on('sessionended', () => {
      throw new Error('host bug in sessionended');
    });
    recorder.on('sessionstarted', async () => {
      await sleep(1);
      throw new Error('host bug in an async sessionstarted');
    });
    recorder.on('recordingstored', () => {
      throw new Error('host bug in recordingstored');
    });
    let errorListenerCalls = 0;
    recorder.on('error', () => {
      errorListenerCalls++;
      throw new Error('host bug in the error listener');
    });
    const room = await recorder.enableRoom({ roomId: 'listeners', router });
    room.on('streamstarted', () => {
      throw new Error('host bug in a room listener');
    });
    const peers = await Promise.all(['ann', 'ben'].map((peerId) => SyntheticPeer.create(router, { peerId, video: VIDEO })));
    for (const peerId of ['ann', 'ben']) {
      await untilCaptured(() => room.sessionId && join(spoolDir, 'listeners', room.sessionId), `${peerId}-camera`, 1000);
    }
    for (const peer of peers) peer.close();
    await until(() => finalised.length === 1, 'the session to be finalised');
    await recorder.whenIdle();
    await recorder.close();

    expect(errors.filter((e) => e.error.code !== 'ERR_LISTENER').map((e) => e.error.message)).toEqual([]);
    // Two individual files and the composite, each stored once, despite every listener throwing.
    expect(stored.map((s) => s.metadata.recordingType).sort()).toEqual(['composite', 'individual', 'individual']);
    const listenerErrors = errors.filter((e) => e.error.code === 'ERR_LISTENER').map((e) => e.error.message);
    expect(listenerErrors).toEqual(
      expect.arrayContaining([
        'a "sessionended" listener threw: host bug in sessionended',
        'a "sessionstarted" listener threw: host bug in an async sessionstarted',
        'a "recordingstored" listener threw: host bug in recordingstored',
        'a "streamstarted" listener threw: host bug in a room listener',
      ]),
    );
    expect(errors.filter((e) => e.error.code !== 'ERR_LISTENER')).toEqual([]);
    // The throwing `error` listener is only logged: reporting it as an error would loop.
    expect(errorListenerCalls).toBe(listenerErrors.length);
    expect(logged.filter((m) => m.includes('"error" listener threw'))).toHaveLength(listenerErrors.length);
  }, 60_000);

  it('a capture thread that dies ends its sessions at once, finalised with what they captured; new sessions record on a new thread', async () => {
    const started = vi.spyOn(CaptureThread, 'start');
    const { recorder, errors, stored, ended } = await recorderOn(tempDir('spool'), tempDir('storage'));
    const thread = started.mock.results[0]!.value as CaptureThread;
    started.mockRestore();
    const room = await recorder.enableRoom({ roomId: 'thread', router, recording: { composite: false } });
    const first = await SyntheticPeer.create(router, { peerId: 'first', video: VIDEO });
    await untilCaptured(() => room.sessionId && join(recorder.spoolDir, 'thread', room.sessionId), 'first-camera', 1500);
    await thread.crashForTesting();
    await until(() => ended.length === 1, 'the session to end');
    expect(ended[0]!.reason).toBe('capture-failed');
    expect(errors.map((e) => e.error.code)).toEqual(['ERR_CAPTURE_THREAD']);
    // The peer is still in the call: its producers start a new session on the new thread.
    const second = await SyntheticPeer.create(router, { peerId: 'second', video: VIDEO });
    await until(() => room.sessionId !== undefined, 'a new session');
    await sleep(1500);
    await room.stop();
    first.close();
    second.close();
    await recorder.whenIdle();
    await recorder.close();

    expect(ended.map((e) => e.reason)).toEqual(['capture-failed', 'stopped']);
    const firstFile = stored.find((s) => s.metadata.sessionId === ended[0]!.sessionId && s.metadata.peerId === 'first');
    expect(firstFile).toBeDefined();
    const probe = await probeFile(firstFile!.location);
    expect(probe.streams.map((s) => s.codec_name).sort()).toEqual(['aac', 'h264']);
    // The file holds what was captured before the thread died.
    const presence = capturedPresence(ended[0]!.dir, 'first-camera');
    expect(Math.abs(probe.durationS * 1000 - (presence.to - presence.from))).toBeLessThanOrEqual(150);
    expect(probe.durationS).toBeGreaterThan(1.4);
    const later = stored.filter((s) => s.metadata.sessionId === ended[1]!.sessionId).map((s) => s.metadata.peerId);
    expect(later.sort()).toEqual(['first', 'second']);
  }, 60_000);

  it('a journal write that fails mid-call is told at once, naming the peer, and the file keeps what was written', async () => {
    const { recorder, errors, stored, finalised } = await recorderOn(tempDir('spool'), tempDir('storage'));
    const room = await recorder.enableRoom({ roomId: 'journal', router, recording: { composite: false } });
    const peer = await SyntheticPeer.create(router, { peerId: 'vic', video: VIDEO });
    await untilCaptured(() => room.sessionId && finalisedDirOf(recorder, room.sessionId), 'vic-camera', 1500);
    const sessionDir = finalisedDirOf(recorder, room.sessionId!);
    const journal = listSessionStreams(sessionDir)[0]!.tracks.find((t) => t.kind === 'video')!.journal;
    // The kernel refuses writes past this size (RLIMIT_FSIZE, soft limit only, so it can be lifted again).
    const limit = statSync(journal).size + 40_000;
    try {
      execFileSync('prlimit', ['--pid', String(process.pid), `--fsize=${limit}:unlimited`]);
      await until(() => errors.length > 0, 'the journal error');
    } finally {
      execFileSync('prlimit', ['--pid', String(process.pid), '--fsize=unlimited:unlimited']);
    }
    // Told while the peer is still sending, not when its track ends.
    expect(peer.closed).toBe(false);
    expect(errors[0]!.error.code).toBe('ERR_JOURNAL_WRITE');
    expect(errors[0]!.error.message).toMatch(/EFBIG|too large/i);
    expect(errors[0]!.context).toMatchObject({ roomId: 'journal', peerId: 'vic' });
    await sleep(1000);
    peer.close();
    await until(() => finalised.length === 1, 'the session to be finalised');
    await recorder.whenIdle();
    await recorder.close();

    expect(errors.map((e) => e.error.code)).toEqual(['ERR_JOURNAL_WRITE']);
    expect(stored).toHaveLength(1);
    const probe = await probeFile(stored[0]!.location);
    expect(probe.streams.map((s) => s.codec_name).sort()).toEqual(['aac', 'h264']);
    expect(probe.durationS).toBeGreaterThan(1.2);
  }, 60_000);
});

function finalisedDirOf(recorder: SfuRecorder, sessionId: string): string {
  return join(recorder.spoolDir, 'journal', sessionId);
}
