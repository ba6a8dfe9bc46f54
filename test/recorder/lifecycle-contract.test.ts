import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { types as ms } from 'mediasoup';
import { SfuRecorder, type RoomRecorder, type SessionEndedInfo, type SessionStartedInfo } from '../../src/index.js';
import { SYNTHETIC_ROUTER_CODECS, SyntheticPeer } from '../../src/testing/index.js';
import { sleep, startRouter, tempDir } from '../helpers/recorder-fixtures.js';

const VIDEO = { codec: 'VP8' as const, width: 320, height: 180, bitrateKbps: 300 };

describe('lifecycle contract', () => {
  let worker: ms.Worker;
  let router: ms.Router;

  beforeAll(async () => {
    ({ worker, router } = await startRouter());
  });

  afterAll(() => worker?.close());

  it('close() marks closed at once and is one operation however often it is called; the room is an emitter with an observer', async () => {
    const recorder = await SfuRecorder.create({
      spoolDir: tempDir('spool'),
      defaultStorage: { root: tempDir('storage') },
      recoverOnStart: false,
      individualOptions: { x264Preset: 'ultrafast' },
      compositeOptions: { width: 320, height: 180, preset: 'ultrafast' },
    });
    const newRooms: RoomRecorder[] = [];
    let recorderObserverClosed = 0;
    recorder.observer.on('newroom', (room) => newRooms.push(room));
    recorder.observer.on('close', () => recorderObserverClosed++);
    const otherRouter = await worker.createRouter({ mediaCodecs: [...SYNTHETIC_ROUTER_CODECS] });
    const room = await recorder.enableRoom({ roomId: 'contract', router: otherRouter, recording: { composite: false } });
    expect(newRooms).toEqual([room]);
    const started: SessionStartedInfo[] = [];
    const ended: SessionEndedInfo[] = [];
    const observed: string[] = [];
    room.on('sessionstarted', (info) => started.push(info));
    room.on('sessionended', (info) => ended.push(info));
    for (const name of ['close', 'pause', 'resume', 'sessionstarted', 'sessionended'] as const) {
      room.observer.on(name, () => observed.push(name));
    }
    let routerClosed = 0;
    room.on('routerclose', () => routerClosed++);

    const peer = await SyntheticPeer.create(otherRouter, { peerId: 'lena', video: VIDEO });
    await sleep(800);
    await room.pause();
    await room.pause(); // already paused: nothing happens
    await room.resume();
    await sleep(500);
    // The router closing closes the room's recording (the session ends and is finalised).
    otherRouter.close();
    await sleep(200);
    expect(room.closed).toBe(true);
    const first = room.close();
    expect(room.close()).toBe(first);
    await first;
    expect(routerClosed).toBe(1);
    expect(observed).toEqual(['sessionstarted', 'pause', 'resume', 'sessionended', 'close']);
    expect(started).toHaveLength(1);
    expect(ended.map((e) => e.reason)).toEqual(['router-closed']);
    expect(recorder.rooms.size).toBe(0);
    await expect(room.addPeer('late')).rejects.toMatchObject({ code: 'ERR_CLOSED' });

    const closing = recorder.close();
    expect(recorder.closed).toBe(true);
    expect(recorder.close()).toBe(closing);
    await closing;
    expect(recorderObserverClosed).toBe(1);
    await expect(recorder.enableRoom({ roomId: 'after', router })).rejects.toMatchObject({ code: 'ERR_CLOSED', message: 'the recorder is closed' });
    peer.close();
  }, 60_000);
});
