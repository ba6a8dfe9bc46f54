import type { ResolvedMuxOptions } from './options.js';

/** The sizes of source video frames finalisation accepts (from {@link ResolvedMuxOptions}). */
export type FrameLimits = Pick<ResolvedMuxOptions, 'maxFrameDimension' | 'maxFramePixels'>;

/**
 * Why a frame of this declared size cannot be used, or `undefined` when it can: a keyframe
 * must declare a readable size, and no size may be zero or negative or exceed the limits.
 * Checked before ffmpeg sees the frame, so a hostile header cannot make it allocate or
 * encode gigapixel pictures.
 */
export function frameSizeProblem(frame: { keyframe: boolean; width?: number; height?: number }, limits: FrameLimits): string | undefined {
  const what = frame.keyframe ? 'keyframe' : 'frame';
  if (frame.width === undefined || frame.height === undefined) {
    return frame.keyframe ? 'keyframe without readable dimensions' : undefined;
  }
  const { width, height } = frame;
  const shown = `${width}×${height}`;
  if (width <= 0 || height <= 0) return `${what} dimensions ${shown} are empty`;
  if (width > limits.maxFrameDimension || height > limits.maxFrameDimension || width * height > limits.maxFramePixels) {
    return `${what} dimensions ${shown} exceed the limit of ${limits.maxFrameDimension} per side and ${limits.maxFramePixels} pixels (mux.maxFrameDimension, mux.maxFramePixels)`;
  }
  return undefined;
}
