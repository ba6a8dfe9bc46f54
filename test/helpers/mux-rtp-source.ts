import { createSocket, type Socket } from 'node:dgram';
import { execa } from 'execa';
import { monotonicMs } from '../../src/capture/journal.js';
import { resolveFfmpegBinaries } from '../../src/ffmpeg/binaries.js';

/** Video codecs the test source can send over RTP. */
export type TestVideoCodec = 'VP8' | 'VP9' | 'H264';

/** One RTP stream as ffmpeg sent it, with the monotonic time each packet arrived. */
export interface CapturedRtpStream {
  kind: 'audio' | 'video';
  /** Journal mime type, e.g. `video/VP8`. */
  mimeType: string;
  clockRate: number;
  payloadType: number;
  ssrc: number;
  packets: Array<{ data: Buffer; arrivalMono: number }>;
}

/** Options of {@link captureTestRtp}. */
export interface CaptureOptions {
  video?: TestVideoCodec;
  audio?: boolean;
  durationS: number;
  width?: number;
  height?: number;
  fps?: number;
  /** Pace in real time (`-re`); otherwise ffmpeg sends as fast as it encodes. */
  realtime?: boolean;
  /** GOP length in frames (default 10). */
  gop?: number;
}

export const VIDEO_PAYLOAD_TYPE = 96;
export const AUDIO_PAYLOAD_TYPE = 111;
export const VIDEO_SSRC = 0x11111111;
export const AUDIO_SSRC = 0x22222222;

/**
 * Runs ffmpeg with lavfi test sources (a picture that flashes white for the first
 * 100 ms of every second, a 1 kHz tone that beeps at the same instants, gated per sample) and
 * receives its RTP output on local UDP sockets. Throws if a packet was lost, so
 * tests only ever inject loss on purpose.
 */
export async function captureTestRtp(options: CaptureOptions): Promise<{ video?: CapturedRtpStream; audio?: CapturedRtpStream }> {
  const { ffmpegPath } = resolveFfmpegBinaries();
  const fps = options.fps ?? 30;
  const width = options.width ?? 640;
  const height = options.height ?? 360;
  const gop = options.gop ?? 10;
  const sockets: Socket[] = [];
  const bind = async (): Promise<Socket> => {
    const socket = createSocket({ type: 'udp4', recvBufferSize: 32 * 1024 * 1024 });
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    sockets.push(socket);
    return socket;
  };
  const result: { video?: CapturedRtpStream; audio?: CapturedRtpStream } = {};
  const args: string[] = ['-hide_banner', '-nostdin', '-loglevel', 'error'];
  const outputs: string[] = [];
  let inputIndex = 0;
  try {
    if (options.video) {
      const codec = options.video;
      const rtp = await bind();
      const rtcp = await bind();
      const stream: CapturedRtpStream = {
        kind: 'video',
        mimeType: `video/${codec}`,
        clockRate: 90_000,
        payloadType: VIDEO_PAYLOAD_TYPE,
        ssrc: VIDEO_SSRC,
        packets: [],
      };
      rtp.on('message', (data) => stream.packets.push({ data, arrivalMono: monotonicMs() }));
      result.video = stream;
      if (options.realtime) args.push('-re');
      args.push(
        '-f',
        'lavfi',
        '-i',
        `testsrc=size=${width}x${height}:rate=${fps}:duration=${options.durationS},` +
          `drawbox=x=0:y=0:w=iw:h=ih:c=white:t=fill:enable='lt(mod(t\\,1)\\,0.1)'`,
      );
      outputs.push('-map', `${inputIndex++}:v`, ...videoEncoder(codec, gop), '-payload_type', String(VIDEO_PAYLOAD_TYPE));
      outputs.push('-ssrc', String(VIDEO_SSRC), '-f', 'rtp', `rtp://127.0.0.1:${port(rtp)}?rtcpport=${port(rtcp)}&pkt_size=1200`);
    }
    if (options.audio) {
      const rtp = await bind();
      const rtcp = await bind();
      const stream: CapturedRtpStream = {
        kind: 'audio',
        mimeType: 'audio/opus',
        clockRate: 48_000,
        payloadType: AUDIO_PAYLOAD_TYPE,
        ssrc: AUDIO_SSRC,
        packets: [],
      };
      rtp.on('message', (data) => stream.packets.push({ data, arrivalMono: monotonicMs() }));
      result.audio = stream;
      if (options.realtime) args.push('-re');
      args.push(
        '-f',
        'lavfi',
        '-i',
        // Gated per sample (sine + volume=enable would gate per 1024-sample frame).
        `aevalsrc=exprs='0.25*sin(2*PI*1000*t)*lt(mod(t\\,1)\\,0.1)':s=48000:d=${options.durationS}`,
      );
      outputs.push('-map', `${inputIndex++}:a`, '-c:a', 'libopus', '-b:a', '64k', '-ac', '2', '-frame_duration', '20');
      outputs.push('-payload_type', String(AUDIO_PAYLOAD_TYPE), '-ssrc', String(AUDIO_SSRC));
      outputs.push('-f', 'rtp', `rtp://127.0.0.1:${port(rtp)}?rtcpport=${port(rtcp)}&pkt_size=1200`);
    }
    await execa(ffmpegPath, [...args, ...outputs], { stdin: 'ignore' });
    await new Promise((resolve) => setTimeout(resolve, 150));
  } finally {
    for (const socket of sockets) socket.close();
  }
  for (const stream of [result.video, result.audio]) {
    if (stream) assertNoLoss(stream);
  }
  return result;
}

function videoEncoder(codec: TestVideoCodec, gop: number): string[] {
  switch (codec) {
    case 'VP8':
      return ['-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '600k', '-g', String(gop), '-auto-alt-ref', '0', '-lag-in-frames', '0'];
    case 'VP9':
      return [
        '-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '600k', '-g', String(gop),
        '-lag-in-frames', '0', '-auto-alt-ref', '0', '-strict', 'experimental',
      ];
    case 'H264':
      return [
        '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p',
        '-g', String(gop), '-bf', '0', '-b:v', '600k',
      ];
  }
}

function port(socket: Socket): number {
  return socket.address().port;
}

function assertNoLoss(stream: CapturedRtpStream): void {
  if (stream.packets.length === 0) throw new Error(`no ${stream.kind} RTP packets received`);
  const seqs = stream.packets.map((p) => p.data.readUInt16BE(2));
  for (let i = 1; i < seqs.length; i++) {
    if (((seqs[i]! - seqs[i - 1]!) & 0xffff) !== 1) {
      throw new Error(`${stream.kind} RTP capture lost or reordered packets at index ${i} (${seqs[i - 1]} -> ${seqs[i]})`);
    }
  }
}
