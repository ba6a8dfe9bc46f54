/**
 * Real browsers: headless Chromium publishing its fake camera and microphone (a
 * flash/beep test pattern) through mediasoup-client into WebRtcTransports on
 * 127.0.0.1 (ICE, DTLS, SRTP as in production), recorded by the SfuRecorder and
 * measured file by file against the bar. Every scenario runs in a room of its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as mediasoup from 'mediasoup';
import type { types as ms } from 'mediasoup';
import type { BrowserPeer } from '../../src/testing/index.js';
import { probeFile } from '../helpers/mux-probe.js';
import { BrowserCallLab, chromiumAvailable, lostVideoPackets, measureRecording, recorderAvOffsetMs, sleep, type BrowserRecording } from '../helpers/browser-call.js';

const CAMERA = { kind: 'video' as const };
const MIC = { kind: 'audio' as const };
const print = (line: string) => {
  if (process.env.PRINT_FIGURES) console.info(line);
};

/** The bar for every individual file of a browser call. */
async function expectWithinBar(
  recording: BrowserRecording,
  label: string,
  options: { avOffsetAgainst?: BrowserPeer; producers?: { audio: ms.Producer; video: ms.Producer }; frozenAfterLossS?: number } = {},
) {
  const figures = await measureRecording(recording);
  let avOffset: number | undefined;
  if (options.avOffsetAgainst && options.producers) {
    const reports = (producer: ms.Producer) => {
      const ssrc = producer.rtpParameters.encodings![0]!.ssrc!;
      return (options.avOffsetAgainst!.senderReports.get(producer.id) ?? []).filter((r) => r.ssrc === ssrc);
    };
    avOffset = await recorderAvOffsetMs(recording.sessionDir, recording.info.streamId!, {
      audio: reports(options.producers.audio),
      video: reports(options.producers.video),
    });
  }
  print(
    `${label}: duration ${Math.round(figures.durationMs)} ms vs presence ${Math.round(figures.presenceMs)} ms (start ${Math.round(figures.startSkewMs)}, end ${Math.round(figures.endSkewMs)}); first picture +${Math.round(figures.firstPictureMs)} ms; ` +
      `A/V ${avOffset === undefined ? 'n/a' : `${avOffset.toFixed(1)} ms`}; black ${JSON.stringify(figures.unexpectedBlack)}; frozen ${JSON.stringify(figures.frozen)}; gaps ${JSON.stringify(recording.stream.video?.gaps.map((g) => g.to - g.from))}`,
  );
  expect(figures.streams, label).toEqual(['audio:aac', 'video:h264']);
  expect(figures.decodeErrors, label).toBe('');
  expect(Math.abs(figures.durationMs - figures.presenceMs), label).toBeLessThanOrEqual(100);
  expect(figures.firstPictureMs, label).toBeLessThanOrEqual(300);
  expect(figures.unexpectedBlack, label).toEqual([]);
  // A packet lost for good leaves the picture frozen until the keyframe the recorder then asks
  // for: that is allowed (for a bounded time) only where packets really never arrived.
  const lost = lostVideoPackets(recording.sessionDir, recording.info.streamId!);
  const frozen = options.frozenAfterLossS !== undefined && lost > 0 ? figures.frozen.filter(([from, to]) => to - from > options.frozenAfterLossS!) : figures.frozen;
  if (figures.frozen.length > 0) print(`${label}: ${lost} video packets lost for good; frozen ${JSON.stringify(figures.frozen)}`);
  expect(frozen, label).toEqual([]);
  if (avOffset !== undefined) expect(Math.abs(avOffset), label).toBeLessThanOrEqual(20);
  return figures;
}

describe.skipIf(!chromiumAvailable())('recording real browsers', () => {
  let worker: ms.Worker;
  let lab: BrowserCallLab;

  beforeAll(async () => {
    worker = await mediasoup.createWorker({ logLevel: 'warn' });
    lab = await BrowserCallLab.start(worker);
  });

  afterAll(async () => {
    await lab?.close();
    worker?.close();
  });

  /** One peer publishing camera + microphone with `video` options, driven by `during`. */
  async function singlePeer(roomId: string, video: Parameters<BrowserPeer['produce']>[0], during: (peer: BrowserPeer, producers: { audio: ms.Producer; video: ms.Producer }) => Promise<void>, capture?: { width: number; height: number; frameRate: number }, audio: Parameters<BrowserPeer['produce']>[0] = MIC) {
    let peer: BrowserPeer | undefined;
    let producers: { audio: ms.Producer; video: ms.Producer } | undefined;
    const result = await lab.record(roomId, async ({ join }) => {
      peer = await join({ peerId: 'alice', ...(capture ? { capture } : {}) });
      const audioProducer = await peer.produce(audio);
      const videoProducer = await peer.produce(video);
      await peer.connected();
      producers = { audio: audioProducer, video: videoProducer };
      await peer.traceSenderReports(audioProducer);
      await peer.traceSenderReports(videoProducer);
      await during(peer, producers);
    });
    expect(result.recordings).toHaveLength(1);
    return { recording: result.recordings[0]!, peer: peer!, producers: producers! };
  }

  it('VP8: connects through DTLS and records within the bar', async () => {
    const { recording, peer, producers } = await singlePeer('vp8', { ...CAMERA, mimeType: 'video/VP8' }, () => sleep(8000));
    expect(recording.stream.video?.sourceCodecs).toEqual(['VP8']);
    await expectWithinBar(recording, 'VP8', { avOffsetAgainst: peer, producers });
  });

  it('H.264 (OpenH264, constrained baseline) records within the bar', async () => {
    const { recording, peer, producers } = await singlePeer('h264', { ...CAMERA, mimeType: 'video/H264', h264ProfileLevelId: '42e01f' }, () => sleep(8000));
    expect(recording.stream.video?.sourceCodecs).toEqual(['H264']);
    await expectWithinBar(recording, 'H264', { avOffsetAgainst: peer, producers });
  });

  it('VP9 SVC (L3T3) records within the bar', async () => {
    const { recording, peer, producers } = await singlePeer(
      'vp9-svc',
      { ...CAMERA, mimeType: 'video/VP9', encodings: [{ scalabilityMode: 'L3T3' }] },
      () => sleep(8000),
      { width: 1280, height: 720, frameRate: 30 },
    );
    expect(recording.stream.video?.sourceCodecs).toEqual(['VP9']);
    await expectWithinBar(recording, 'VP9 SVC', { avOffsetAgainst: peer, producers });
  });

  it('VP8 simulcast, 3 layers, with forced layer switches, stays continuous at one size', async () => {
    const { recording } = await singlePeer(
      'simulcast',
      {
        ...CAMERA,
        mimeType: 'video/VP8',
        encodings: [
          { rid: 'r0', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
          { rid: 'r1', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
          { rid: 'r2', scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
        ],
      },
      async (peer, producers) => {
        await sleep(3000);
        // Down to the lowest layer, then back up: mediasoup's consumer switches layers.
        await peer.setMaxSpatialLayer(producers.video, 0);
        await sleep(3000);
        await peer.setMaxSpatialLayer(producers.video, 2);
        await sleep(3000);
      },
      { width: 1280, height: 720, frameRate: 30 },
    );
    const figures = await expectWithinBar(recording, 'VP8 simulcast');
    expect(recording.stream.video!.width * recording.stream.video!.height).toBeGreaterThan(0);
    expect(figures.durationMs).toBeGreaterThan(8000);
  });

  it('Opus DTX: silence between the beeps is not a gap and stays in sync', async () => {
    const { recording, peer, producers } = await singlePeer('dtx', CAMERA, () => sleep(8000), undefined, { ...MIC, codecOptions: { opusDtx: true } });
    await expectWithinBar(recording, 'Opus DTX', { avOffsetAgainst: peer, producers });
    // Audio may start or end a little apart from video; no gap may lie inside the call.
    const inside = (recording.stream.audio?.gaps ?? []).filter((gap) => gap.from > recording.stream.startedAt + 500 && gap.to < recording.stream.endedAt - 500);
    expect(inside, JSON.stringify(recording.stream.audio?.gaps)).toEqual([]);
  });

  it('a resolution change keeps one continuous file at a constant size', async () => {
    const { recording, peer, producers } = await singlePeer('resize', { ...CAMERA, mimeType: 'video/VP8' }, async (p, produced) => {
      await sleep(3000);
      await p.setResolution(produced.video, 320, 180);
      await sleep(3000);
      await p.setResolution(produced.video, 640, 360);
      await sleep(3000);
    });
    // One size for the whole file (Chromium may also scale down by itself when the CPU is busy).
    const probe = await probeFile(recording.file);
    const video = probe.streams.find((s) => s.codec_type === 'video')!;
    expect({ width: video.width, height: video.height }).toEqual({ width: recording.stream.video!.width, height: recording.stream.video!.height });
    await expectWithinBar(recording, 'resolution change', { avOffsetAgainst: peer, producers });
  });

  it('replaceTrack(null) for 3 s becomes a reported gap, black, and the picture comes back', async () => {
    const { recording } = await singlePeer('replace-track', { ...CAMERA, mimeType: 'video/VP8' }, async (p, produced) => {
      await sleep(3000);
      await p.replaceTrack(produced.video, false);
      await sleep(3000);
      await p.replaceTrack(produced.video, true);
      await sleep(3000);
    });
    // Video may also start a little after audio: only the long gap is the replaced track.
    const gaps = recording.stream.video!.gaps.filter((gap) => gap.to - gap.from > 1000);
    expect(gaps, JSON.stringify(recording.stream.video!.gaps)).toHaveLength(1);
    expect(gaps[0]!.to - gaps[0]!.from).toBeGreaterThan(2500);
    expect(gaps[0]!.to - gaps[0]!.from).toBeLessThan(3600);
    await expectWithinBar(recording, 'replaceTrack(null)');
  });

  it('producer pause/resume (camera off) is black for the pause and live again after it', async () => {
    const { recording, peer, producers } = await singlePeer('pause', { ...CAMERA, mimeType: 'video/VP8' }, async (p, produced) => {
      await sleep(3000);
      await p.pause(produced.video);
      await sleep(3000);
      await p.resume(produced.video);
      await sleep(3000);
    });
    const gaps = recording.stream.video!.gaps.filter((gap) => gap.to - gap.from > 1000);
    expect(gaps, JSON.stringify(recording.stream.video!.gaps)).toHaveLength(1);
    expect(Math.abs(gaps[0]!.to - gaps[0]!.from - 3000)).toBeLessThan(400);
    await expectWithinBar(recording, 'pause/resume', { avOffsetAgainst: peer, producers });
  });

  it('two peers joining and leaving: one file each within the bar, and a composite', async () => {
    const result = await lab.record(
      'two-peers',
      async ({ join }) => {
        const alice = await join({ peerId: 'alice' });
        await alice.produce(MIC);
        await alice.produce(CAMERA);
        await alice.connected();
        await sleep(2000);
        const bob = await join({ peerId: 'bob' });
        await bob.produce(MIC);
        await bob.produce({ ...CAMERA, mimeType: 'video/VP9' });
        await bob.connected();
        await sleep(4000);
        await bob.close();
        await sleep(2000);
      },
      { composite: true },
    );
    expect(result.recordings.map((r) => r.info.peerId).sort()).toEqual(['alice', 'bob']);
    for (const recording of result.recordings) await expectWithinBar(recording, `two peers: ${recording.info.peerId}`);
    expect(result.composite).toBeDefined();
  });

  it('3% loss and 30 ms delay are repaired without a freeze', async () => {
    let relayDropped = 0;
    const result = await lab.record('lossy', async ({ join }) => {
      const alice = await join({ peerId: 'alice', network: { lossRate: 0.03, delayMs: 30 } });
      await alice.produce(MIC);
      await alice.produce({ ...CAMERA, mimeType: 'video/VP8' });
      await alice.connected();
      await sleep(9000);
      relayDropped = alice.relay!.dropped;
    });
    expect(relayDropped).toBeGreaterThan(10);
    expect(result.recordings).toHaveLength(1);
    // Loss that NACK/RTX repairs leaves no trace; a packet lost for good (its retransmissions
    // lost too) is repaired by a keyframe request within the loss-recovery window plus a round trip.
    await expectWithinBar(result.recordings[0]!, 'loss 3% + 30 ms', { frozenAfterLossS: 1 });
  });

  it('a browser that reconnects on a new transport continues the same file', async () => {
    const result = await lab.record('reconnect', async ({ join }) => {
      const alice = await join({ peerId: 'alice' });
      await alice.produce(MIC);
      await alice.produce({ ...CAMERA, mimeType: 'video/VP8' });
      await alice.connected();
      await sleep(4000);
      await alice.reconnect([MIC, { ...CAMERA, mimeType: 'video/VP8' }]);
      await alice.connected();
      await sleep(4000);
    });
    expect(result.recordings, 'one file across the reconnect').toHaveLength(1);
    const figures = await expectWithinBar(result.recordings[0]!, 'reconnect');
    expect(figures.durationMs).toBeGreaterThan(7500);
  });
});
