export { resolveFfmpegBinaries, type FfmpegBinaries } from './binaries.js';
export { runFfmpeg, runFfprobe, tellingStderrLine, FfmpegError, type FfmpegFailure, type RunFfmpegOptions } from './run.js';
