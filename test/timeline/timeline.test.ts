import { appendFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readTimeline, TimelineWriter } from '../../src/timeline/timeline-file.js';

describe('timeline file', () => {
  it('survives a torn last line and keeps appending on a fresh line', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'timeline-')), 'timeline.jsonl');
    const first = new TimelineWriter(path);
    first.append({ type: 'session-started', at: 1, roomId: 'r', sessionId: 's' });
    first.append({ type: 'peer-joined', at: 2, peerId: 'a' });
    appendFileSync(path, '{"type":"peer-le');
    const torn = readTimeline(path);
    expect(torn.events).toHaveLength(2);
    expect(torn.complete).toBe(false);
    expect(torn.skippedLines).toBe(1);
    const second = new TimelineWriter(path);
    second.append({ type: 'session-ended', at: 3, reason: 'recovered' });
    const after = readTimeline(path);
    expect(after.events.map((e) => e.type)).toEqual(['session-started', 'peer-joined', 'session-ended']);
    expect(after.complete).toBe(true);
  });
});
