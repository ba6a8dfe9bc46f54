export { resolveFfmpegBinaries, type FfmpegBinaries } from './binaries.js';
export { runFfmpeg, runFfprobe, FfmpegError, type RunFfmpegOptions } from './run.js';
