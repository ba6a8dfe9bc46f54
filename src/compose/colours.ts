import { SfuRecorderError } from '../errors.js';

/**
 * The colour of a peer's name tile: derived from the peer id alone, so a peer keeps its
 * colour across segments, re-runs and machines. Muted and dark, so white text reads on it.
 * Returns `0xRRGGBB` (ffmpeg's colour syntax).
 */
export function nameTileColour(peerId: string): string {
  // FNV-1a: tiny, stable, well spread.
  let hash = 0x811c9dc5;
  for (let i = 0; i < peerId.length; i++) {
    hash ^= peerId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  const [r, g, b] = hslToRgb((hash % 360) / 360, 0.4, 0.3);
  return `0x${[r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

function hslToRgb(h: number, s: number, l: number): [number, number, number] {
  const q = l < 0.5 ? l * (1 + s) : l + s - l * s;
  const p = 2 * l - q;
  const channel = (t: number) => {
    const u = t < 0 ? t + 1 : t > 1 ? t - 1 : t;
    const v = u < 1 / 6 ? p + (q - p) * 6 * u : u < 1 / 2 ? q : u < 2 / 3 ? p + (q - p) * (2 / 3 - u) * 6 : p;
    return Math.round(v * 255);
  };
  return [channel(h + 1 / 3), channel(h), channel(h - 1 / 3)];
}

/** Parses `0xRRGGBB` / `#RRGGBB` into RGB bytes (tests and custom layouts use it). */
export function parseHexColour(colour: string): [number, number, number] {
  const hex = colour.replace(/^(0x|#)/i, '');
  if (!/^[0-9a-f]{6}$/i.test(hex)) throw new SfuRecorderError('ERR_INVALID_ARGUMENT', `not a #RRGGBB colour: ${colour}`);
  return [0, 2, 4].map((i) => Number.parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
}
