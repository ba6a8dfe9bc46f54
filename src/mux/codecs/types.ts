/** One encoded frame, reassembled from its RTP packets. */
export interface EncodedFrame {
  /** RTP timestamp of the frame. */
  rtpTimestamp: number;
  /** Arrival (monotonic ms) of the frame's first packet. */
  arrivalMono: number;
  /** The frame as a decoder wants it (VP8/VP9 frame, Annex B access unit, Opus packet). */
  data: Buffer;
  keyframe: boolean;
  /** Coded size, when the frame says (keyframes). */
  width?: number;
  height?: number;
  /** Audio only: duration in samples at 48 kHz (from the Opus TOC). */
  durationSamples?: number;
}

/** What a video payload reader learned from one packet. */
export interface VideoPayload<Extra = unknown> {
  /** The packet certainly starts a frame (VP8 S bit, VP9 B bit, H.264 first slice). */
  startsFrame: boolean;
  /** The packet ends a frame as far as the payload tells (VP9 E bit); true when it cannot tell. */
  endsFrame: boolean;
  extra: Extra;
}

/** Codec-specific half of video depacketisation; see `VideoFrameAssembler`. */
export interface VideoPayloadReader<Extra = unknown> {
  readonly codec: string;
  /** Parses one payload; `undefined` for a malformed one (the frame is then dropped). */
  read(payload: Buffer): VideoPayload<Extra> | undefined;
  /** Builds a frame from all payloads of one complete frame; `undefined` if unusable. */
  build(parts: ReadonlyArray<VideoPayload<Extra>>): Omit<EncodedFrame, 'rtpTimestamp' | 'arrivalMono'> | undefined;
}
