import { describe, expect, it } from 'vitest';
import { parseHexColour } from '../../src/compose/colours.js';
import { escapeFilterValue, fillers, segmentArgs, x264Args } from '../../src/compose/filtergraph.js';
import {
  defaultLayout,
  gridLayout,
  gridRects,
  planComposition,
  presentationLayout,
  speakerLayout,
  type CompositeLayout,
  type LayoutContext,
  type LayoutItem,
  type Rect,
} from '../../src/compose/index.js';
import { TimeMap, fileOffsetMs } from '../../src/compose/time-map.js';
import type { FinalisedStream } from '../../src/mux/stream-result.js';
import type { TimelineEvent } from '../../src/timeline/events.js';

const W = 1280;
const H = 720;

function cam(peerId: string, hasVideo = true): LayoutItem {
  return { peerId, streamId: `${peerId}-s`, source: 'camera', hasVideo, label: peerId };
}

function context(n: number, extra: Partial<LayoutContext> = {}): LayoutContext {
  return { width: W, height: H, cameras: Array.from({ length: n }, (_, i) => cam(`p${i}`)), screenShares: [], ...extra };
}

function overlaps(a: Rect, b: Rect): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

function assertSane(rects: Rect[]) {
  for (const r of rects) {
    expect(r.x % 2 + r.y % 2 + r.width % 2 + r.height % 2).toBe(0);
    expect(r.x).toBeGreaterThanOrEqual(0);
    expect(r.y).toBeGreaterThanOrEqual(0);
    expect(r.x + r.width).toBeLessThanOrEqual(W);
    expect(r.y + r.height).toBeLessThanOrEqual(H);
  }
  for (let i = 0; i < rects.length; i++) for (let j = i + 1; j < rects.length; j++) expect(overlaps(rects[i]!, rects[j]!)).toBe(false);
}

describe('grid layout', () => {
  const shapes: Record<number, [cols: number, rows: number]> = { 1: [1, 1], 2: [2, 1], 3: [2, 2], 4: [2, 2], 5: [3, 2], 6: [3, 2], 7: [3, 3], 8: [3, 3], 9: [3, 3], 10: [4, 3] };
  for (let n = 1; n <= 10; n++) {
    it(`places ${n} tile${n > 1 ? 's' : ''} in a ${shapes[n]!.join('x')} grid`, () => {
      const placements = gridLayout(context(n));
      expect(placements.map((p) => p.item.peerId)).toEqual(Array.from({ length: n }, (_, i) => `p${i}`));
      const rects = placements.map((p) => p.rect);
      assertSane(rects);
      const [cols, rows] = shapes[n]!;
      expect(new Set(rects.map((r) => r.y)).size).toBe(rows);
      expect(rects.every((r) => Math.abs(r.width - W / cols) <= 2)).toBe(true);
      expect(rects.every((r) => Math.abs(r.height - H / rows) <= 2)).toBe(true);
      // Full rows cover the width; a short last row is centred.
      const last = rects.filter((r) => r.y === Math.max(...rects.map((q) => q.y)));
      const left = Math.min(...last.map((r) => r.x));
      const right = W - Math.max(...last.map((r) => r.x + r.width));
      expect(Math.abs(left - right)).toBeLessThanOrEqual(2);
    });
  }

  it('is 1 full frame, 2 side by side', () => {
    expect(gridRects(1, W, H)).toEqual([{ x: 0, y: 0, width: W, height: H }]);
    expect(gridRects(2, W, H)).toEqual([
      { x: 0, y: 0, width: 640, height: 720 },
      { x: 640, y: 0, width: 640, height: 720 },
    ]);
    expect(gridRects(0, W, H)).toEqual([]);
  });
});

describe('presentation and speaker layouts', () => {
  const share: LayoutItem = { peerId: 'p1', streamId: 'p1-screen', source: 'screen', hasVideo: true, label: 'p1 (screen)' };

  it('puts the share large and the cameras in a strip', () => {
    const placements = presentationLayout(context(3, { screenShares: [share] }));
    expect(placements[0]!.item).toBe(share);
    expect(placements[0]!.rect.width).toBeGreaterThan(W / 2);
    expect(placements.slice(1).map((p) => p.item.peerId)).toEqual(['p0', 'p1', 'p2']);
    for (const p of placements.slice(1)) expect(p.rect.width).toBeLessThan(W / 4);
    assertSane(placements.map((p) => p.rect));
  });

  it('is the grid without a share; the default grid switches to presentation with one', () => {
    expect(presentationLayout(context(4))).toEqual(gridLayout(context(4)));
    expect(defaultLayout(context(2, { screenShares: [share] }))[0]!.item).toBe(share);
    expect(speakerLayout(context(2, { screenShares: [share] }))[0]!.item).toBe(share);
  });

  it('follows the active speaker, with the others in a strip', () => {
    const placements = speakerLayout(context(4, { activeSpeakerId: 'p2' }));
    expect(placements[0]!.item.peerId).toBe('p2');
    expect(placements[0]!.rect).toEqual({ x: 0, y: 0, width: W - 256, height: H });
    expect(placements.slice(1).map((p) => p.item.peerId)).toEqual(['p0', 'p1', 'p3']);
    assertSane(placements.map((p) => p.rect));
    // Before anyone spoke: the first peer; alone: full frame.
    expect(speakerLayout(context(3))[0]!.item.peerId).toBe('p0');
    expect(speakerLayout(context(1))[0]!.rect).toEqual({ x: 0, y: 0, width: W, height: H });
  });

  it('leaves out strip tiles that do not fit', () => {
    const placements = speakerLayout(context(12));
    expect(placements.length).toBe(1 + 5);
    assertSane(placements.map((p) => p.rect));
  });
});

describe('fillers', () => {
  it('cover exactly the canvas outside the tiles', () => {
    for (const n of [1, 2, 3, 5, 7, 10]) {
      const tiles = gridRects(n, W, H);
      const all = [...tiles, ...fillers(tiles, W, H)];
      assertSane(all);
      expect(all.reduce((sum, r) => sum + r.width * r.height, 0)).toBe(W * H);
    }
    expect(fillers([], W, H)).toEqual([{ x: 0, y: 0, width: W, height: H }]);
  });
});

describe('escapeFilterValue', () => {
  it('protects quotes, colons and graph separators', () => {
    expect(escapeFilterValue('/a/b.ttf')).toBe("\\'/a/b.ttf\\'");
    expect(escapeFilterValue("/x/it's;a,b[c]:d")).toBe("\\'/x/it\\'\\\\\\'\\'s\\;a\\,b\\[c\\]:d\\'");
  });
});

// ---------------------------------------------------------------------------

const S = 1_000_000;

function stream(peerId: string, from: number, to: number, extra: Partial<FinalisedStream> = {}): FinalisedStream {
  return {
    version: 1,
    roomId: 'r',
    sessionId: 's',
    peerId,
    streamId: `${peerId}-s`,
    source: 'camera',
    file: `/x/${peerId}.mp4`,
    startedAt: S + from,
    endedAt: S + to,
    durationMs: to - from,
    sizeBytes: 1,
    video: { codec: 'h264', sourceCodecs: [], width: 640, height: 360, fps: 30, copied: false, gaps: [] },
    audio: { codec: 'aac', sourceCodecs: [], sampleRate: 48000, channels: 1, gaps: [] },
    cuts: [],
    ...extra,
  };
}

/** A timeline with `at` relative to S. */
function timeline(end: number, ...events: TimelineEvent[]): TimelineEvent[] {
  return [
    { type: 'session-started', at: S, roomId: 'r', sessionId: 's' },
    ...events.map((e) => ({ ...e, at: S + e.at })),
    { type: 'session-ended', at: S + end, reason: 'stopped' },
  ];
}

const join = (at: number, peerId: string) => ({ type: 'peer-joined' as const, at, peerId });
const leave = (at: number, peerId: string) => ({ type: 'peer-left' as const, at, peerId });

describe('planComposition', () => {
  const base = { layout: defaultLayout, width: 320, height: 180, fps: 30 };

  it('cuts the session into constant-layout segments on the frame grid', () => {
    const plan = planComposition({
      ...base,
      events: timeline(10_000, join(0, 'a'), join(2_010, 'b'), leave(6_020, 'a')),
      streams: [stream('a', 0, 6_020), stream('b', 2_010, 10_000)],
    });
    expect(plan.frames).toBe(300);
    expect(plan.durationMs).toBe(10_000);
    expect(plan.segments.map((s) => [s.startFrame, s.endFrame, s.tiles.length])).toEqual([
      [0, 60, 1],
      [60, 181, 2],
      [181, 300, 1],
    ]);
    expect(plan.segments[1]!.audioSources.map((a) => a.peerId)).toEqual(['a', 'b']);
    expect(plan.segments[2]!.tiles[0]).toMatchObject({ peerId: 'b', kind: 'video', rect: { x: 0, y: 0, width: 320, height: 180 } });
    expect(plan.segments[1]!.wallFrom).toBe(S + 2000);
  });

  it('shows a name tile while the camera is off (video gap or track-muted)', () => {
    const plan = planComposition({
      ...base,
      events: timeline(
        6_000,
        join(0, 'a'),
        { type: 'track-added', at: 0, peerId: 'a', streamId: 'a-s', trackId: 'tv', kind: 'video', mimeType: 'video/VP8', producerId: 'p', journal: 'j' },
        { type: 'track-muted', at: 2_000, trackId: 'tv' },
        { type: 'track-unmuted', at: 3_000, trackId: 'tv' },
        { type: 'peer-joined', at: 0, peerId: 'b', displayName: 'Bob' },
      ),
      streams: [
        stream('a', 0, 6_000),
        stream('b', 0, 6_000, {
          video: { codec: 'h264', sourceCodecs: [], width: 640, height: 360, fps: 30, copied: false, gaps: [{ from: S + 4_000, to: S + 5_000 }] },
        }),
      ],
    });
    const kinds = plan.segments.map((s) => [s.from, s.tiles.map((t) => `${t.peerId}:${t.kind}:${t.label}`).join(' ')]);
    expect(kinds).toEqual([
      [0, 'a:video:a b:video:Bob'],
      [2_000, 'a:name:a b:video:Bob'],
      [3_000, 'a:video:a b:video:Bob'],
      [4_000, 'a:video:a b:name:Bob'],
      [5_000, 'a:video:a b:video:Bob'],
    ]);
  });

  it('leaves paused time out and starts a segment after each cut', () => {
    const plan = planComposition({
      ...base,
      events: timeline(10_000, join(0, 'a'), { type: 'recording-paused', at: 3_000 }, { type: 'recording-resumed', at: 5_000 }),
      streams: [stream('a', 0, 10_000, { cuts: [{ from: S + 3_000, to: S + 5_000 }] })],
    });
    expect(plan.durationMs).toBe(8_000);
    expect(plan.cuts).toEqual([{ from: S + 3_000, to: S + 5_000 }]);
    expect(plan.segments.map((s) => [s.from, s.to, s.wallFrom - S])).toEqual([
      [0, 3_000, 0],
      [3_000, 8_000, 5_000],
    ]);
    // The file has the pause cut too: the second segment reads from 3 s into it.
    expect(fileOffsetMs(stream('a', 0, 10_000, { cuts: [{ from: S + 3_000, to: S + 5_000 }] }), S + 5_000)).toBe(3_000);
    const kept = planComposition({ ...base, pauses: 'keep', events: timeline(10_000, join(0, 'a')), streams: [stream('a', 0, 10_000)] });
    expect(kept.durationMs).toBe(10_000);
  });

  it('follows the active speaker in the speaker layout, ignoring blips', () => {
    const plan = planComposition({
      ...base,
      layout: speakerLayout,
      events: timeline(
        10_000,
        join(0, 'a'),
        join(0, 'b'),
        { type: 'active-speaker', at: 2_000, peerId: 'b' },
        { type: 'active-speaker', at: 5_000, peerId: 'a' },
        { type: 'active-speaker', at: 5_200, peerId: 'b' },
        { type: 'active-speaker', at: 8_000, peerId: 'a' },
      ),
      streams: [stream('a', 0, 10_000), stream('b', 0, 10_000)],
    });
    expect(plan.segments.map((s) => [s.from, s.tiles[0]!.peerId])).toEqual([
      [0, 'a'],
      [2_000, 'b'],
      [8_000, 'a'],
    ]);
  });

  it('uses the session end from the last media when the timeline was cut short', () => {
    const events = timeline(0, join(0, 'a')).filter((e) => e.type !== 'session-ended');
    const plan = planComposition({ ...base, events, streams: [stream('a', 0, 4_500)] });
    expect(plan.durationMs).toBe(4_500);
  });

  it('runs from the first media to the last, inside the session, with the session start as the epoch', () => {
    const plan = planComposition({
      ...base,
      events: timeline(
        10_000,
        join(300, 'a'),
        join(1_000, 'b'),
        { type: 'stream-ended', at: 8_900, peerId: 'b', streamId: 'b-s' },
        leave(8_900, 'b'),
      ),
      // b's file runs a little past the end the timeline gave it; a's ends earlier.
      streams: [stream('a', 300, 6_000), stream('b', 1_000, 8_930)],
    });
    expect([plan.sessionStartedAt, plan.startedAt, plan.endedAt].map((t) => t - S)).toEqual([0, 300, 8_900]);
    expect(plan.durationMs).toBe(8_600);
    expect(plan.segments[0]).toMatchObject({ startFrame: 0, wallFrom: S + 300 });
    expect(plan.segments.every((s) => s.tiles.some((t) => t.kind === 'video'))).toBe(true);
    // Media outside the session does not stretch it; without media the session is all there is.
    const outside = planComposition({ ...base, events: timeline(4_000, join(0, 'a')), streams: [stream('a', -500, 4_800)] });
    expect([outside.startedAt - S, outside.endedAt - S]).toEqual([0, 4_000]);
    expect(planComposition({ ...base, events: timeline(4_000, join(0, 'a')), streams: [] }).durationMs).toBe(4_000);
  });

  it('accepts a custom layout function and clamps what it returns', () => {
    const pip: CompositeLayout = (ctx) => [
      ...ctx.cameras.slice(0, 1).map((item) => ({ item, rect: { x: 0, y: 0, width: ctx.width, height: ctx.height } })),
      ...ctx.cameras.slice(1).map((item, i) => ({ item, rect: { x: ctx.width - 100, y: 10 + i * 60, width: 200, height: 51 } })),
    ];
    const plan = planComposition({
      ...base,
      layout: pip,
      events: timeline(4_000, join(0, 'a'), join(1_000, 'b')),
      streams: [stream('a', 0, 4_000), stream('b', 1_000, 4_000)],
    });
    expect(plan.segments.at(-1)!.tiles.map((t) => t.rect)).toEqual([
      { x: 0, y: 0, width: 320, height: 180 },
      { x: 220, y: 10, width: 100, height: 50 },
    ]);
  });

  it('splits long constant stretches so segments can run in parallel', () => {
    const plan = planComposition({ ...base, maxSegmentMs: 60_000, events: timeline(300_000, join(0, 'a')), streams: [stream('a', 0, 300_000)] });
    expect(plan.segments.length).toBe(5);
    expect(plan.segments.map((s) => s.endFrame - s.startFrame)).toEqual([1800, 1800, 1800, 1800, 1800]);
  });

  it('builds a segment command: seeks each source, xstacks tiles and fillers, mixes audio', () => {
    const plan = planComposition({
      ...base,
      events: timeline(10_000, join(0, 'a'), join(2_000, 'b'), join(2_000, 'c')),
      streams: [stream('a', 0, 10_000), stream('b', 2_000, 10_000), stream('c', 2_000, 10_000, { video: undefined })],
    });
    const segment = plan.segments[1]!;
    const args = segmentArgs({
      segment,
      width: 320,
      height: 180,
      encoding: { fps: 30, preset: 'veryfast' },
      background: 'black',
      streams: new Map([stream('a', 0, 10_000), stream('b', 2_000, 10_000), stream('c', 2_000, 10_000, { video: undefined })].map((s) => [s.streamId, s])),
      videoOut: 'v.mp4',
      audioOut: 'a.wav',
    });
    const inputs = args.flatMap((a, i) => (a === '-i' ? [args[i + 1]] : []));
    expect(inputs).toEqual(['/x/a.mp4', '/x/b.mp4', '/x/c.mp4']);
    expect(args.slice(0, 2)).toEqual(['-ss', '2.000000']);
    const graph = args[args.indexOf('-filter_complex') + 1]!;
    expect(graph).toContain('xstack=inputs=5'); // 3 tiles + 2 fillers beside the centred last row
    expect(graph).toContain('amix=inputs=3');
    expect(graph).toContain('volume=3');
    expect(args).toContain('-frames:v');
  });
});

describe('TimeMap', () => {
  it('maps wall clock to output and back around cuts', () => {
    const map = new TimeMap(0, 10_000, [{ from: 2_000, to: 3_000 }, { from: 5_000, to: 7_000 }]);
    expect(map.durationMs).toBe(7_000);
    expect(map.toOutput(2_500)).toBe(2_000);
    expect(map.toOutput(8_000)).toBe(5_000);
    expect(map.toWall(2_000)).toBe(3_000);
    expect(map.toWall(4_500)).toBe(7_500);
  });
});

describe('bad arguments are typed errors', () => {
  const plan = (over: Partial<Parameters<typeof planComposition>[0]>) =>
    planComposition({ events: [], streams: [], layout: gridLayout, width: W, height: H, fps: 30, ...over });

  it('a bad frame rate or size is ERR_INVALID_ARGUMENT, an empty session ERR_COMPOSE_EMPTY', () => {
    expect(() => plan({ fps: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining('fps') }));
    expect(() => plan({ width: 1 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining('1x720') }));
    expect(() => plan({})).toThrow(expect.objectContaining({ code: 'ERR_COMPOSE_EMPTY' }));
  });

  it('a colour that is not #RRGGBB is ERR_INVALID_ARGUMENT, a bad bitrate names the field', () => {
    expect(() => parseHexColour('red')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => x264Args({ fps: 30, preset: 'ultrafast', bitrate: 'fast' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_CONFIG', field: 'bitrate' }));
  });
});
