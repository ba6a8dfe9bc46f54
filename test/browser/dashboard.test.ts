/**
 * The dashboard example end to end in Chromium (the fake camera and microphone of the
 * browser suite, real WebRTC into mediasoup, real ffmpeg, real HTTP): create a room
 * through the page (a bad upload first), two pages join, one leaves, the room is stopped,
 * and the recordings page shows the files arriving and plays the composite, seeking
 * through the signed URL. Screenshots of each step land in tmp/dashboard-screenshots/.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page, Response } from 'playwright-core';
import { startDashboard, type Dashboard } from '../../examples/dashboard/server.js';
import { chromiumArgs, defaultChromiumPath, generateSyncMedia } from '../../src/testing/index.js';
import { chromiumAvailable, sleep } from '../helpers/browser-call.js';
import { probeFile } from '../helpers/mux-probe.js';
import { tempDir } from '../helpers/recorder-fixtures.js';

/** The bits of the page's globals the checks below read (this file is compiled without DOM types). */
interface VideoInPage {
  readyState: number;
  videoWidth: number;
  currentTime: number;
  duration: number;
  muted: boolean;
  play(): Promise<void>;
  addEventListener(type: 'seeked', listener: () => void, options: { once: boolean }): void;
}
interface PageGlobals {
  document: { querySelector(selector: string): VideoInPage | null };
  notReloaded?: boolean;
}

const SCREENSHOTS = join(process.cwd(), 'tmp', 'dashboard-screenshots');
/** Typed into the S3 secret field of the refused room: it must never come back out. */
const LEAK_CANARY = 'dashboardCanarySecret/Zq81+never-echoed';

describe.skipIf(!chromiumAvailable())('the dashboard in a real browser', () => {
  let dashboard: Dashboard;
  let browser: Browser;
  const logLines: string[] = [];
  const bodies: string[] = [];

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    dashboard = await startDashboard({
      port: 0,
      dataDir: tempDir('dashboard'),
      log: (line) => logLines.push(line),
      finalise: { individualOptions: { x264Preset: 'ultrafast' }, compositeOptions: { preset: 'ultrafast' } },
    });
    const { chromium } = await import('playwright-core');
    const media = await generateSyncMedia({ width: 640, height: 360, fps: 30 });
    browser = await chromium.launch({ executablePath: defaultChromiumPath(), headless: true, args: chromiumArgs(media) });
  });

  afterAll(async () => {
    await browser?.close();
    await dashboard?.close();
  });

  /** A page in a context of its own (two peers, two sessions), whose JSON answers are kept for the leak check. */
  async function openPage(path: string): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    const page = await context.newPage();
    page.on('response', (response: Response) => {
      if (response.headers()['content-type']?.startsWith('application/json')) void response.text().then((text) => bodies.push(text), () => undefined);
    });
    await page.goto(`${dashboard.url}${path}`);
    return page;
  }

  const shot = (page: Page, name: string) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });

  it('creates a room, records two browsers, and plays the composite from the recordings page', async () => {
    const home = await openPage('/');
    await shot(home, '1-home');

    // An S3 upload without a bucket: the API's InvalidConfigError shows at that field.
    await home.check('input[name=storage][value=s3]');
    await home.fill('#name', 'Browser call');
    await home.fill('[id="upload.credentials.key"]', 'AKIADASHBOARDCANARY1');
    await home.fill('[id="upload.credentials.secret"]', LEAK_CANARY);
    await home.click('#create-button');
    const locationError = home.locator('[data-error-for="upload.location"]');
    await expect.poll(() => locationError.textContent()).toBe('upload.location is required (the bucket name)');
    expect(await home.locator('[id="upload.location"]').getAttribute('class')).toContain('invalid');
    expect(dashboard.rooms.rooms.size).toBe(0);
    await shot(home, '2-create-room-error');

    // The default storage: the page goes to the new room.
    await home.check('input[name=storage][value=default]');
    await home.click('#create-button');
    await home.waitForURL(/\/rooms\/browser-call-[0-9a-f]{6}$/);
    const roomPath = new URL(home.url()).pathname;
    const room = [...dashboard.rooms.rooms.values()][0]!;

    // Two peers join with the fake camera and microphone; both see the recording indicator.
    const ada = home;
    await ada.fill('#join-name', 'Ada');
    await ada.click('#join-button');
    await ada.locator('#call-status', { hasText: 'in the call' }).waitFor();
    await ada.locator('#recording-indicator').waitFor({ state: 'visible' });
    const grace = await openPage(roomPath);
    await grace.fill('#join-name', 'Grace');
    await grace.click('#join-button');
    await grace.locator('#call-status', { hasText: 'in the call' }).waitFor();
    await grace.locator('#recording-indicator').waitFor({ state: 'visible' });
    // Each sees the other's video through its receive transport.
    await ada.waitForFunction(() => {
      const video = (globalThis as unknown as PageGlobals).document.querySelector('#videos figure[data-peer] video');
      return video !== null && video.readyState >= 2 && video.videoWidth > 0;
    }, undefined, { timeout: 20_000 });
    await shot(ada, '3-room');

    await sleep(4000);
    await grace.click('#leave-button');
    await grace.locator('#call-status', { hasText: 'left the call' }).waitFor();
    await grace.close();
    await sleep(3000);

    // The recordings page, open before the stop: everything after arrives without a reload.
    const recordings = await openPage(`${roomPath}/recordings`);
    const ranges: number[] = [];
    recordings.on('response', (response) => {
      if (response.url().includes('/recordings/') && response.request().headers().range !== undefined) ranges.push(response.status());
    });
    await recordings.evaluate(() => ((globalThis as unknown as PageGlobals).notReloaded = true));
    await recordings.locator('section.session[data-state=capturing]').waitFor();
    await shot(recordings, '4-recordings-capturing');
    await recordings.click('#stop-button');
    await ada.locator('#recording-indicator').waitFor({ state: 'hidden' });
    await recordings.locator('section.session[data-state=stored]').waitFor({ timeout: 90_000 });
    expect(await recordings.evaluate(() => (globalThis as unknown as PageGlobals).notReloaded)).toBe(true);
    expect(await recordings.locator('figure[data-type=composite] video').count()).toBe(1);
    expect(await recordings.locator('figure[data-type=individual] video').count()).toBe(2);

    // The composite plays in the page, and seeking to its middle works.
    const [session] = room.recordings().sessions;
    const sessionS = session!.durationMs! / 1000;
    const playback = await recordings.evaluate(async () => {
      const video = (globalThis as unknown as PageGlobals).document.querySelector('figure[data-type=composite] video')!;
      video.muted = true;
      await video.play();
      const until = async (ok: () => boolean) => {
        for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 50));
      };
      await until(() => video.readyState >= 3);
      const readyState = video.readyState;
      const startedAt = video.currentTime;
      await new Promise((r) => setTimeout(r, 1500));
      const advanced = video.currentTime - startedAt;
      const middle = video.duration / 2;
      video.currentTime = middle;
      await new Promise<void>((r) => video.addEventListener('seeked', r, { once: true }));
      await until(() => video.readyState >= 3);
      return { readyState, duration: video.duration, advanced, middle, afterSeek: video.currentTime, readyAfterSeek: video.readyState };
    });
    expect(playback.readyState).toBeGreaterThanOrEqual(3);
    expect(Math.abs(playback.duration - sessionS)).toBeLessThanOrEqual(1);
    expect(playback.advanced).toBeGreaterThan(0.5);
    expect(Math.abs(playback.afterSeek - playback.middle)).toBeLessThan(1);
    expect(playback.readyAfterSeek).toBeGreaterThanOrEqual(3);
    // The seek was served as a Range request through the signed URL.
    expect(ranges).toContain(206);
    await shot(recordings, '5-recordings-stored');

    // The files are real: composite and both peers, audio and video, Ada's the longer.
    const files = session!.files;
    const probed = await Promise.all(files.map(async (file) => ({ file, probe: await probeFile(dashboard.recorder.defaultStorage.pathOf(file.key!)) })));
    for (const { probe } of probed) expect(probe.streams.map((s) => `${s.codec_type}:${s.codec_name}`).sort()).toEqual(['audio:aac', 'video:h264']);
    const individual = probed.filter(({ file }) => file.type === 'individual');
    expect(individual).toHaveLength(2);
    const [longer, shorter] = individual.sort((a, b) => b.probe.durationS - a.probe.durationS);
    expect(room.detail().peers.map((p) => p.displayName)).toEqual(['Ada']);
    expect(longer!.file.peerId).toBe(room.detail().peers[0]!.id);
    expect(longer!.probe.durationS - shorter!.probe.durationS).toBeGreaterThan(2);

    // A tampered signed URL is refused.
    const url = new URL(files.find((f) => f.type === 'composite')!.url!);
    expect((await fetch(url)).status).toBe(200);
    const signature = url.searchParams.get('signature')!;
    url.searchParams.set('signature', `${signature[0] === 'A' ? 'B' : 'A'}${signature.slice(1)}`);
    expect((await fetch(url)).status).toBe(403);

    // The secret typed into the form never came back: not in a response, the page or the log.
    const everything = [...bodies, await recordings.content(), await ada.content(), ...logLines].join('\n');
    expect(bodies.length).toBeGreaterThan(3);
    expect(everything).not.toContain(LEAK_CANARY);
    expect(everything).not.toContain('AKIADASHBOARDCANARY1');
    await ada.close();
  });
});
