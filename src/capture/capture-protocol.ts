import type { JournalHeader } from './journal.js';

/** What the capture thread is started with. */
export interface CaptureWorkerData {
  flushIntervalMs: number;
  /** How long a missing video packet may take to be repaired (NACK/RTX) before it counts as lost. */
  lossRecoveryMs: number;
}

/** Requests to the capture thread; each is answered by a `reply` with the same id. */
export type CaptureRequest =
  | { op: 'bind'; id: number; ip: string; receiveBufferBytes: number }
  | { op: 'unbind'; id: number; socketId: number }
  | { op: 'open'; id: number; socketId: number; path: string; header: JournalHeader }
  | { op: 'close'; id: number; socketId: number; ssrc: number }
  | { op: 'stats'; id: number; socketId: number };

/** What the capture thread says. */
export type CaptureEvent =
  | {
      op: 'reply';
      id: number;
      error?: string;
      socketId?: number;
      ip?: string;
      port?: number;
      receiveBufferBytes?: number;
      bytesWritten?: number;
      received?: number;
      unrouted?: number;
      /** The capture thread's longest event-loop delay and garbage-collection pause so far (ms). */
      longestStallMs?: number;
      longestGcPauseMs?: number;
    }
  | { op: 'journal-error'; socketId: number; ssrc: number; message: string }
  /** The journal's disk is full: packets wait in memory (and beyond a bound are dropped) until space returns. */
  | { op: 'journal-full'; socketId: number; ssrc: number; message: string }
  /** Space returned and the journal is written again; `droppedPackets` were lost meanwhile. */
  | { op: 'journal-resumed'; socketId: number; ssrc: number; droppedPackets: number }
  /** A video track lost packets that were not recovered: it needs a keyframe to decode again. */
  | { op: 'unrecovered-loss'; socketId: number; ssrc: number }
  | { op: 'socket-error'; socketId: number; message: string };
