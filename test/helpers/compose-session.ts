import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveFfmpegBinaries, runFfmpeg } from '../../src/ffmpeg/index.js';
import type { FinalisedStream } from '../../src/mux/stream-result.js';
import { sessionPaths } from '../../src/spool/layout.js';
import type { TimelineEvent } from '../../src/timeline/events.js';
import { TimelineWriter } from '../../src/timeline/timeline-file.js';

/** A synthetic peer: a solid colour that flashes white and a tone that beeps, on the wall-clock second. */
export interface SyntheticPeer {
  peerId: string;
  displayName?: string;
  /** ffmpeg colour, e.g. `0xff0000`. */
  colour: string;
  /** Continuous tone (amplitude 0.1) that rises to 0.5 during the beep. */
  toneHz: number;
  /** ms after the session start. */
  joinAt: number;
  /** ms after the session start; default: the session end. */
  leaveAt?: number;
  /** Camera off (ms after the session start): black in the file, a video gap and track-muted. */
  cameraOff?: { from: number; to?: number };
  /** Share a screen instead of a camera. */
  source?: 'camera' | 'screen';
  streamId?: string;
  /**
   * Another stream of a peer listed before (e.g. its screen share next to its camera):
   * only stream and track events, no `peer-joined` / `peer-left`. Give it its own `streamId`.
   */
  streamOnly?: boolean;
  /** Flash and beep on the second (default true); false: a steady colour and tone. */
  flash?: boolean;
}

export interface SyntheticSessionSpec {
  roomId?: string;
  sessionId?: string;
  /** Epoch ms of the session start. */
  startedAt?: number;
  durationMs: number;
  peers: SyntheticPeer[];
  /** Source video size. Default 160x90. */
  width?: number;
  height?: number;
  fps?: number;
  /** Write `session-ended` (default true). */
  complete?: boolean;
  /** Extra timeline events (ms after the session start in `at`). */
  extraEvents?: TimelineEvent[];
  /**
   * Recording pauses (ms after the session start): `recording-paused` / `recording-resumed`
   * in the timeline, and cut out of every file as the mux step does (the media of the span
   * is removed and the stream's `cuts` lists it).
   */
  pauses?: Array<{ from: number; to: number }>;
}

export interface SyntheticSession {
  dir: string;
  roomId: string;
  sessionId: string;
  startedAt: number;
  streams: FinalisedStream[];
}

/** Flash: the first 100 ms of every wall-clock second of the session. */
export const FLASH_MS = 100;

/**
 * Builds a session directory as the recorder would leave it after finalisation:
 * `timeline.jsonl` and, per peer, an H.264 + AAC mp4 with its `stream.json`.
 */
export async function createSyntheticSession(dir: string, spec: SyntheticSessionSpec): Promise<SyntheticSession> {
  const roomId = spec.roomId ?? 'room-1';
  const sessionId = spec.sessionId ?? 'session-1';
  const S = spec.startedAt ?? 1_700_000_000_000;
  const width = spec.width ?? 160;
  const height = spec.height ?? 90;
  const fps = spec.fps ?? 30;
  const { ffmpegPath } = resolveFfmpegBinaries();
  mkdirSync(dir, { recursive: true });

  const streams = await Promise.all(
    spec.peers.map(async (peer): Promise<FinalisedStream> => {
      const streamId = peer.streamId ?? `${peer.peerId}-s1`;
      const leaveAt = peer.leaveAt ?? spec.durationMs;
      const seconds = (leaveAt - peer.joinAt) / 1000;
      // Pauses inside this stream's span, in file-local seconds before the cut.
      const cuts = (spec.pauses ?? [])
        .map((p) => ({ from: Math.max(p.from, peer.joinAt), to: Math.min(p.to, leaveAt) }))
        .filter((p) => p.to > p.from);
      const cutSeconds = cuts.reduce((sum, c) => sum + (c.to - c.from) / 1000, 0);
      const keep = cuts.length
        ? `not(${cuts.map((c) => `gte(t,${(c.from - peer.joinAt) / 1000})*lt(t,${(c.to - peer.joinAt) / 1000})`).join('+')})`
        : '';
      const fileSeconds = seconds - cutSeconds;
      // Phase so that flashes and beeps land on the session's whole seconds in every file.
      const phase = ((peer.joinAt / 1000) % 1).toFixed(6);
      const flash = (peer.flash ?? true) ? `lt(mod(t+${phase},1),${FLASH_MS / 1000})` : '0';
      const off = peer.cameraOff;
      const offFrom = off ? (off.from - peer.joinAt) / 1000 : 0;
      const offTo = off ? ((off.to ?? leaveAt) - peer.joinAt) / 1000 : 0;
      const video =
        `color=c=${peer.colour}:s=${width}x${height}:r=${fps}:d=${seconds},format=yuv420p,` +
        `drawbox=c=white:t=fill:enable='${flash}'` +
        (off ? `,drawbox=c=black:t=fill:enable='between(t,${offFrom},${offTo})'` : '') +
        (keep ? `,select='${keep}',setpts=N/FRAME_RATE/TB` : '');
      // With pauses: 10 ms audio frames, so that aselect cuts on the (10 ms aligned) pause edges.
      const audio =
        `aevalsrc=exprs='(0.1+0.4*${flash})*sin(2*PI*${peer.toneHz}*t)':s=48000${keep ? ':n=480' : ''}:d=${seconds}` +
        (keep ? `,aselect='${keep}',asetpts=N/SR/TB` : '');
      const peerDir = sessionPaths.streamDir(dir, peer.peerId, streamId);
      mkdirSync(peerDir, { recursive: true });
      const file = sessionPaths.streamFile(dir, peer.peerId, streamId);
      await runFfmpeg(
        ffmpegPath,
        [
          '-f', 'lavfi', '-i', video, '-f', 'lavfi', '-i', audio,
          '-c:v', 'libx264', '-preset', 'ultrafast', '-g', String(fps), '-pix_fmt', 'yuv420p',
          '-c:a', 'aac', '-b:a', '96k', '-movflags', '+faststart', '-t', String(fileSeconds), file,
        ],
        { label: `synthetic peer ${peer.peerId}` },
      );
      const stream: FinalisedStream = {
        version: 1,
        roomId,
        sessionId,
        peerId: peer.peerId,
        streamId,
        source: peer.source ?? 'camera',
        ...(peer.displayName ? { displayName: peer.displayName } : {}),
        file,
        startedAt: S + peer.joinAt,
        endedAt: S + leaveAt,
        durationMs: leaveAt - peer.joinAt - cutSeconds * 1000,
        sizeBytes: statSync(file).size,
        video: {
          codec: 'h264',
          sourceCodecs: ['video/VP8'],
          width,
          height,
          fps,
          copied: false,
          gaps: off ? [{ from: S + off.from, to: S + (off.to ?? leaveAt) }] : [],
        },
        audio: { codec: 'aac', sourceCodecs: ['audio/opus'], sampleRate: 48000, channels: 1, gaps: [] },
        cuts: cuts.map((c) => ({ from: S + c.from, to: S + c.to })),
      };
      writeFileSync(sessionPaths.streamResult(dir, peer.peerId, streamId), `${JSON.stringify(stream, null, 2)}\n`);
      return stream;
    }),
  );

  const events: TimelineEvent[] = [{ type: 'session-started', at: S, roomId, sessionId }];
  for (const [i, peer] of spec.peers.entries()) {
    const streamId = streams[i]!.streamId;
    const leaveAt = peer.leaveAt ?? spec.durationMs;
    const at = S + peer.joinAt;
    const common = { peerId: peer.peerId, streamId, producerId: `prod-${peer.peerId}` };
    if (!peer.streamOnly) {
      events.push({ type: 'peer-joined', at, peerId: peer.peerId, ...(peer.displayName ? { displayName: peer.displayName } : {}) });
    }
    events.push(
      { type: 'stream-started', at, peerId: peer.peerId, streamId, source: peer.source ?? 'camera' },
      { type: 'track-added', at, ...common, trackId: `${streamId}-a`, kind: 'audio', mimeType: 'audio/opus', journal: sessionPaths.journalRelative(`${streamId}-a`) },
      { type: 'track-added', at, ...common, trackId: `${streamId}-v`, kind: 'video', mimeType: 'video/VP8', journal: sessionPaths.journalRelative(`${streamId}-v`) },
    );
    if (peer.cameraOff) {
      events.push({ type: 'track-muted', at: S + peer.cameraOff.from, trackId: `${streamId}-v` });
      if (peer.cameraOff.to !== undefined && peer.cameraOff.to < leaveAt) {
        events.push({ type: 'track-unmuted', at: S + peer.cameraOff.to, trackId: `${streamId}-v` });
      }
    }
    if (leaveAt < spec.durationMs) {
      events.push({ type: 'stream-ended', at: S + leaveAt, peerId: peer.peerId, streamId });
      if (!peer.streamOnly) events.push({ type: 'peer-left', at: S + leaveAt, peerId: peer.peerId });
    }
  }
  for (const p of spec.pauses ?? []) {
    events.push({ type: 'recording-paused', at: S + p.from }, { type: 'recording-resumed', at: S + p.to });
  }
  for (const e of spec.extraEvents ?? []) events.push({ ...e, at: S + e.at });
  if (spec.complete ?? true) events.push({ type: 'session-ended', at: S + spec.durationMs, reason: 'stopped' });
  events.sort((a, b) => a.at - b.at);
  const writer = new TimelineWriter(sessionPaths.timeline(dir));
  for (const e of events) writer.append(e);
  writer.close();
  return { dir, roomId, sessionId, startedAt: S, streams };
}

/** A scratch directory for one test file. */
export function scratchDir(name: string): string {
  const dir = join(process.env.TMPDIR ?? '/tmp', `sfu-recorder-compose-${name}-${process.pid}-${Date.now()}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}
