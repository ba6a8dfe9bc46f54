import { expect } from 'vitest';

/** What a call rejected with (fails the test if it resolved). */
export async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  const outcome = await promise.then(
    () => ({ resolved: true as const }),
    (error: unknown) => ({ resolved: false as const, error }),
  );
  expect(outcome.resolved, 'expected a rejection').toBe(false);
  return outcome.resolved ? undefined : outcome.error;
}

/** What a synchronous call threw (fails the test if it returned). */
export function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}
