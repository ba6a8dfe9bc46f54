// Types for lines.mjs (imported by test/worker-bin.test.ts).
export interface WorkerLine {
	line: string;
	range: string;
	recipe: number;
	overlay?: string;
}
export declare const WORKER_LINES: readonly WorkerLine[];
export declare function workerLineOf(version: string): WorkerLine | undefined;
