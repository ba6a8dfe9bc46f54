/** A picture size in pixels, as a bitstream declares it (not yet checked against any limit). */
export interface FrameSize {
  width: number;
  height: number;
}

/** A video frame's bitstream, built from the payloads of its RTP packets. */
export interface BuiltFrame {
  data: Buffer;
  keyframe: boolean;
  /**
   * The size the frame declares: always on a keyframe that has a readable header, and on
   * other frames that carry one (an H.264 access unit with an SPS, a VP9 frame with an
   * explicit size). Absent when the frame declares none.
   */
  width?: number;
  height?: number;
}

/** What a video payload reader learned from one packet. */
export interface VideoPayload<Extra = unknown> {
  /** The packet certainly starts a frame (VP8 S bit, VP9 B bit, H.264 first slice). */
  startsFrame: boolean;
  /** The packet ends a frame as far as the payload tells (VP9 E bit); true when it cannot tell. */
  endsFrame: boolean;
  extra: Extra;
}

/**
 * The codec-specific half of video depacketisation (the frame assembler in `mux/` is the
 * other half): parses each RTP payload, and builds one frame's bitstream from the payloads
 * of a complete frame. Never throws: malformed input gives `undefined`.
 */
export interface VideoPayloadReader<Extra = unknown> {
  /** Parses one payload; `undefined` for a malformed one (the frame is then dropped). */
  read(payload: Buffer): VideoPayload<Extra> | undefined;
  /** Builds a frame from all payloads of one complete frame; `undefined` if unusable. */
  build(parts: ReadonlyArray<VideoPayload<Extra>>): BuiltFrame | undefined;
}

/** SDP description of a codec, as a mediasoup router offers it. */
export interface CodecSdp {
  channels?: number;
  parameters: Record<string, string | number>;
}

/** Fields every registered codec has. */
interface CodecEntryBase<Kind extends 'audio' | 'video', Name extends string> {
  /** Short name used in results and diagnostics (`sourceCodecs`), e.g. `VP8`. */
  readonly name: Name;
  readonly kind: Kind;
  /** `<kind>/<name>`, e.g. `video/VP8` (mime types compare case-insensitively). */
  readonly mimeType: `${Kind}/${Name}`;
  /** RTP clock rate (Hz). */
  readonly clockRate: number;
  /** What a router offers for it (`RouterRtpCodecCapability` without kind, mimeType, clockRate). */
  readonly sdp: CodecSdp;
}

/** Settings the synthetic peer (`sfu-recorder/testing`) sends a video codec with. */
export interface SyntheticVideoSettings {
  payloadType: number;
  /** Producer codec parameters; default the codec's `sdp.parameters`. */
  parameters?: Record<string, string | number>;
  /** ffmpeg encoder arguments, light enough for a shared 2-core box. */
  encoderArgs(options: { bitrateKbps: number; gop: number }): string[];
}

/** Settings the synthetic peer sends an audio codec with. */
export interface SyntheticAudioSettings {
  payloadType: number;
  parameters?: Record<string, string | number>;
}

/** A video codec the recorder can capture and finalise. */
export interface VideoCodecEntry<Name extends string = string> extends CodecEntryBase<'video', Name> {
  /** RTP payloads → one frame's bitstream, with keyframe detection and the declared size. */
  createPayloadReader(): VideoPayloadReader;
  /**
   * The size a frame's bitstream declares (see {@link BuiltFrame.width}), read by the same
   * parser the payload reader uses; `undefined` when the frame declares none or is unreadable.
   */
  frameSize(frame: Buffer): FrameSize | undefined;
  /** IVF fourcc of the intermediate file (ffmpeg's IVF demuxer reads VP80, VP90 and H264). */
  readonly ivfFourcc: string;
  /**
   * Whether an mp4 can carry the stream this keyframe starts as it is, so finalisation may
   * copy instead of re-encoding (it still decides by size, timing and gaps). Absent: the
   * codec is always re-encoded. A copy is never decoded, so this is what stands between a
   * sender's odd bitstream and a file that players cannot open.
   */
  canCopy?(keyframe: Buffer): boolean;
  readonly synthetic?: SyntheticVideoSettings;
}

/** An audio codec the recorder can capture and finalise. */
export interface AudioCodecEntry<Name extends string = string> extends CodecEntryBase<'audio', Name> {
  /** Duration of one RTP payload in samples at `clockRate`; `undefined` for a malformed one (dropped). */
  packetSamples(payload: Buffer): number | undefined;
  /** The Matroska intermediate file: its CodecID and CodecPrivate. */
  readonly matroska: { codecId: string; sampleRate: number; codecPrivate(channels: number): Buffer };
  readonly synthetic?: SyntheticAudioSettings;
}

/** One entry of the codec registry. */
export type CodecEntry = VideoCodecEntry | AudioCodecEntry;
