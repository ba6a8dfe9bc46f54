/** Samples per Opus frame at 48 kHz for each TOC configuration (RFC 6716 §3.1). */
const FRAME_SAMPLES = [
  480, 960, 1920, 2880, 480, 960, 1920, 2880, 480, 960, 1920, 2880, // SILK NB/MB/WB: 10/20/40/60 ms
  480, 960, 480, 960, // Hybrid SWB/FB: 10/20 ms
  120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, // CELT: 2.5/5/10/20 ms
];

/**
 * Duration of an Opus packet in 48 kHz samples, read from its TOC byte and frame
 * count (RFC 6716 §3.2); `undefined` for an empty or malformed packet.
 */
export function opusPacketSamples(packet: Buffer): number | undefined {
  if (packet.length < 1) return undefined;
  const toc = packet[0]!;
  const perFrame = FRAME_SAMPLES[toc >> 3]!;
  const code = toc & 0x03;
  let frames: number;
  if (code === 0) frames = 1;
  else if (code === 1 || code === 2) frames = 2;
  else {
    if (packet.length < 2) return undefined;
    frames = packet[1]! & 0x3f;
    if (frames === 0) return undefined;
  }
  const samples = perFrame * frames;
  return samples > 5760 ? undefined : samples;
}
