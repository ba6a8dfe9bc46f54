import { InvalidConfigError } from '../errors.js';

/** How long something is retried: attempts and elapsed time, whichever runs out first. */
export interface RetryPolicy {
  /** Total attempts, the first included. */
  maxAttempts: number;
  /** No new attempt starts later than this after the first one (ms). Survives restarts. */
  maxElapsedMs: number;
  /** Delay before the second attempt (ms); doubles after each failure. */
  initialDelayMs: number;
  /** Upper bound of one delay (ms). */
  maxDelayMs: number;
}

/** Uploads: 12 attempts within 24 hours, 2 s doubling up to 10 min. */
export const DEFAULT_UPLOAD_RETRY: RetryPolicy = {
  maxAttempts: 12,
  maxElapsedMs: 24 * 60 * 60 * 1000,
  initialDelayMs: 2_000,
  maxDelayMs: 10 * 60 * 1000,
};

/** Webhooks: 10 attempts within 24 hours, 5 s doubling up to 1 h (receivers are often down longer). */
export const DEFAULT_WEBHOOK_RETRY: RetryPolicy = {
  maxAttempts: 10,
  maxElapsedMs: 24 * 60 * 60 * 1000,
  initialDelayMs: 5_000,
  maxDelayMs: 60 * 60 * 1000,
};

/** Fills a partial policy from `defaults` and checks it. `field` prefixes error fields. */
export function resolveRetryPolicy(field: string, partial: Partial<RetryPolicy> | undefined, defaults: RetryPolicy): RetryPolicy {
  const policy = { ...defaults, ...partial };
  for (const name of ['maxAttempts', 'maxElapsedMs', 'initialDelayMs', 'maxDelayMs'] as const) {
    const value = policy[name];
    const min = name === 'maxAttempts' ? 1 : 0;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
      throw new InvalidConfigError(`${field}.${name}`, `${field}.${name} must be a number >= ${min} (got ${String(value)})`);
    }
  }
  return policy;
}

/**
 * Delay before attempt `attempt + 1` after `attempt` failures: exponential, capped, with
 * "equal jitter" (half fixed, half random) so many files failing together do not retry in lockstep.
 */
export function backoffDelay(failures: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.max(0, failures - 1));
  return Math.round(exp / 2 + random() * (exp / 2));
}

/** Whether a retry that would start at `nextAt` is still within the budget. */
export function withinBudget(failures: number, firstAttemptAt: number, nextAt: number, policy: RetryPolicy): boolean {
  return failures < policy.maxAttempts && nextAt - firstAttemptAt <= policy.maxElapsedMs;
}
