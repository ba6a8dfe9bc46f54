import { describe, expect, it } from 'vitest';
import { LossWatch } from '../../src/capture/loss-watch.js';

describe('LossWatch', () => {
  it('forgives a hole that NACK/RTX repairs within the recovery time', () => {
    const watch = new LossWatch(400);
    watch.push(10, 0);
    watch.push(12, 10); // 11 missing
    expect(watch.takeUnrecovered(200)).toBe(false);
    watch.push(11, 250); // retransmission arrives late
    expect(watch.takeUnrecovered(1000)).toBe(false);
    expect(watch.unrecovered).toBe(0);
  });

  it('reports a hole that outlives the recovery time once, then starts afresh', () => {
    const watch = new LossWatch(400);
    watch.push(100, 0);
    watch.push(103, 20); // 101 and 102 lost
    expect(watch.takeUnrecovered(300)).toBe(false);
    expect(watch.takeUnrecovered(420)).toBe(true);
    expect(watch.takeUnrecovered(2000)).toBe(false);
    watch.push(104, 2000);
    watch.push(106, 2010);
    expect(watch.takeUnrecovered(2500)).toBe(true);
    expect(watch.unrecovered).toBe(2);
  });

  it('handles the 16-bit sequence wrap and ignores reordering and sender restarts', () => {
    const watch = new LossWatch(400);
    watch.push(65534, 0);
    watch.push(0, 5); // 65535 missing across the wrap
    watch.push(65535, 30); // reordered, not lost
    watch.push(1, 40);
    expect(watch.takeUnrecovered(1000)).toBe(false);
    watch.push(30_000, 1000); // a jump of thousands: a new sender state, not loss
    expect(watch.takeUnrecovered(2000)).toBe(false);
  });
});
