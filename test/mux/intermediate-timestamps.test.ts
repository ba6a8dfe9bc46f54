import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveFfmpegBinaries } from '../../src/ffmpeg/binaries.js';
import { runFfprobe } from '../../src/ffmpeg/run.js';
import { IvfWriter } from '../../src/mux/containers/ivf.js';
import { OPUS } from '../../src/codecs/opus.js';
import { MatroskaAudioWriter } from '../../src/mux/containers/matroska-audio.js';

const dir = mkdtempSync(join(process.env.SFU_TEST_TMP ?? tmpdir(), 'intermediates-'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Packet pts as ffprobe reads them, in the stream's time base. */
async function packetPts(file: string): Promise<number[]> {
  const { ffprobePath } = resolveFfmpegBinaries();
  const out = await runFfprobe<{ packets: Array<{ pts: number }> }>(ffprobePath, ['-show_entries', 'packet=pts', '-show_packets', file]);
  return out.packets.map((p) => p.pts);
}

describe('intermediate files get strictly increasing timestamps', () => {
  it('IVF: a frame on or before the previous tick is written one tick after it', async () => {
    const path = join(dir, 'video.ivf');
    const writer = new IvfWriter(path, 'VP80', 320, 180);
    for (const pts of [0, 3000, 3000, 2900, 6000, 6000.4]) writer.writeFrame(Buffer.from([0x00, 0x01, 0x02]), pts);
    writer.close();
    expect(await packetPts(path)).toEqual([0, 3000, 3001, 3002, 6000, 6001]);
  });

  it('Matroska: a packet on or before the previous millisecond is written 1 ms after it', async () => {
    const path = join(dir, 'audio.mka');
    const writer = new MatroskaAudioWriter(path, { ...OPUS.matroska, codecPrivate: OPUS.matroska.codecPrivate(2), channels: 2 });
    const silence = Buffer.from([0xfc, 0xff, 0xfe]); // Opus TOC: CELT fullband 20 ms stereo, then padding
    for (const pts of [0, 20, 20, 19.6, 40, 6000]) writer.writePacket(silence, pts);
    writer.close();
    expect(await packetPts(path)).toEqual([0, 20, 21, 22, 40, 6000]);
  });
});
