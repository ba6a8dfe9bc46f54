/** ffmpeg arguments for a constant bitrate, shared by the synthetic peer's encoders. */
export function constantRate(bitrateKbps: number): string[] {
  return ['-b:v', `${bitrateKbps}k`, '-maxrate', `${bitrateKbps}k`, '-bufsize', `${bitrateKbps}k`];
}

/** ffmpeg arguments for a keyframe every `gop` frames exactly. */
export function fixedGop(gop: number): string[] {
  return ['-g', String(gop), '-keyint_min', String(gop)];
}
