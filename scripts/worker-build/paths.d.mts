// Types for paths.mjs (imported by test/worker-bin.test.ts).
export declare const MEDIASOUP_TESTED_RANGE: string;
export interface WorkerCacheOptions {
	env?: NodeJS.ProcessEnv;
	platform?: string;
	arch?: string;
	homedir?: string;
}
export declare function projectCacheDir(opts?: Pick<WorkerCacheOptions, 'env' | 'homedir'>): string;
export declare function workerCacheDir(version: string, opts?: WorkerCacheOptions): string;
export declare function workerCachePath(version: string, opts?: WorkerCacheOptions): string;
export declare function mediasoupPrebuiltWorkerPath(mediasoupDir: string): string;
export declare function satisfiesRange(version: string, range?: string): boolean;
