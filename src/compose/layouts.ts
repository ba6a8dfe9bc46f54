import { InvalidConfigError } from '../errors.js';
import type { CompositeLayout, LayoutContext, LayoutItem, LayoutName, LayoutPlacement, Rect } from './types.js';

/** Rounds to the nearest even number: yuv420p planes need even offsets and sizes. */
export function even(value: number): number {
  return Math.round(value / 2) * 2;
}

/** The rectangle from even-rounded edges, so that neighbouring tiles neither overlap nor leave gaps. */
function edges(x0: number, y0: number, x1: number, y1: number): Rect {
  const x = even(x0);
  const y = even(y0);
  return { x, y, width: even(x1) - x, height: even(y1) - y };
}

/**
 * Grid: 1 tile full frame, 2 side by side, 3–4 in 2x2, 5–6 in 3x2, 7–9 in 3x3, then
 * `ceil(sqrt(n))` columns. A short last row is centred.
 */
export function gridRects(count: number, width: number, height: number, area: Rect = { x: 0, y: 0, width, height }): Rect[] {
  if (count <= 0) return [];
  const cols = Math.ceil(Math.sqrt(count));
  const rows = Math.ceil(count / cols);
  const cellW = area.width / cols;
  const cellH = area.height / rows;
  const rects: Rect[] = [];
  for (let i = 0; i < count; i++) {
    const row = Math.floor(i / cols);
    const col = i % cols;
    const inRow = row === rows - 1 ? count - row * cols : cols;
    const offset = ((cols - inRow) * cellW) / 2;
    const x0 = area.x + offset + col * cellW;
    const y0 = area.y + row * cellH;
    rects.push(edges(x0, y0, x0 + cellW, y0 + cellH));
  }
  return rects;
}

/** The default grid: every present peer gets an equal tile. */
export const gridLayout: CompositeLayout = (context) => {
  const rects = gridRects(context.cameras.length, context.width, context.height);
  return context.cameras.map((item, i) => ({ item, rect: rects[i]! }));
};

/**
 * One large tile with the others in a strip down the right edge (a fifth of the width,
 * 16:9 tiles). Tiles that do not fit in the strip are left out; `strip` is in priority order.
 */
function stageWithStrip(context: LayoutContext, main: LayoutItem, strip: LayoutItem[]): LayoutPlacement[] {
  const { width, height } = context;
  if (strip.length === 0) return [{ item: main, rect: { x: 0, y: 0, width, height } }];
  const stripW = even(width / 5);
  const tileH = Math.min(height, even((stripW * 9) / 16));
  const fits = Math.max(1, Math.floor(height / tileH));
  const shown = strip.slice(0, fits);
  const top = even((height - shown.length * tileH) / 2);
  const placements: LayoutPlacement[] = [{ item: main, rect: { x: 0, y: 0, width: width - stripW, height } }];
  shown.forEach((item, i) => {
    placements.push({ item, rect: { x: width - stripW, y: top + i * tileH, width: stripW, height: tileH } });
  });
  return placements;
}

/**
 * Presentation: the most recent screen share large, other shares and the cameras in a
 * strip (the active speaker first). Without a share it is the grid.
 */
export const presentationLayout: CompositeLayout = (context) => {
  const [share, ...otherShares] = context.screenShares;
  if (!share) return gridLayout(context);
  return stageWithStrip(context, share, [...otherShares, ...speakerFirst(context)]);
};

/**
 * Speaker: the active speaker large (the first peer to join until one is known), the
 * others in a strip. A screen share switches to {@link presentationLayout}.
 */
export const speakerLayout: CompositeLayout = (context) => {
  if (context.screenShares.length > 0) return presentationLayout(context);
  const [main, ...others] = speakerFirst(context);
  if (!main) return [];
  return stageWithStrip(context, main, others);
};

/** Grid that switches to presentation while a screen is shared: the default. */
export const defaultLayout: CompositeLayout = (context) =>
  context.screenShares.length > 0 ? presentationLayout(context) : gridLayout(context);

function speakerFirst(context: LayoutContext): LayoutItem[] {
  const speaker = context.cameras.find((item) => item.peerId === context.activeSpeakerId);
  return speaker ? [speaker, ...context.cameras.filter((item) => item !== speaker)] : context.cameras;
}

/** The layout function for a built-in name (`grid` is the default) or a custom function. */
export function resolveLayout(layout: LayoutName | CompositeLayout | undefined): CompositeLayout {
  if (typeof layout === 'function') return layout;
  switch (layout ?? 'grid') {
    case 'grid':
      return defaultLayout;
    case 'speaker':
      return speakerLayout;
    case 'presentation':
      return presentationLayout;
    default:
      throw new InvalidConfigError('layout', `unknown composite layout "${String(layout)}": use grid, speaker, presentation or a function`);
  }
}
