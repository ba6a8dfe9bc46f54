import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { types as ms } from 'mediasoup';
import { closedError, SfuRecorderError } from '../../errors.js';
import { generateSyncMedia, type SyncMediaFiles } from './sync-media.js';
import type { PageApi, PageProduceOptions, PageSignal } from './protocol.js';
import { UdpRelay, type UdpRelayOptions } from './udp-relay.js';

/** One sender report the browser sent for a producer, as mediasoup received it. */
export interface BrowserSenderReport {
  ssrc: number;
  /** The browser's NTP time of `rtpTimestamp`, in ms since the NTP epoch. */
  ntpMs: number;
  rtpTimestamp: number;
}

/** Options of {@link BrowserPeer.launch}. */
export interface BrowserPeerOptions {
  /** The router the peer joins (a WebRtcTransport is created on it for the peer). */
  router: ms.Router;
  peerId: string;
  /** Default `<peerId>-camera`. */
  streamId?: string;
  displayName?: string;
  /** Chromium to run; default `SFU_RECORDER_CHROMIUM` or `/usr/bin/chromium`. */
  executablePath?: string;
  /** The fake camera's capture; default 640x360 at 30 fps. */
  capture?: { width: number; height: number; frameRate: number };
  /** The fake devices' files; default a flash/beep pair made with ffmpeg ({@link generateSyncMedia}). */
  media?: SyncMediaFiles;
  /** Put a UDP relay with loss and delay between the browser and mediasoup. */
  network?: UdpRelayOptions;
  /** Address of the peer's WebRtcTransport; default 127.0.0.1. */
  listenIp?: string;
}

/** What {@link BrowserPeer.produce} takes. */
export type BrowserProduceOptions = Omit<PageProduceOptions, 'appData' | 'capture'> & { appData?: Record<string, unknown> };

const CHROMIUM_FLAGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  // Media keeps flowing while the page is not in front.
  '--disable-renderer-backgrounding',
  '--disable-background-timer-throttling',
  '--disable-backgrounding-occluded-windows',
];

/**
 * The command line BrowserPeer starts Chromium with: headless, fake camera and microphone
 * playing `media`, no permission prompt. For tests that drive pages of their own in the
 * same set-up (`chromium.launch({ executablePath, args: chromiumArgs(media) })`).
 */
export function chromiumArgs(media: SyncMediaFiles): string[] {
  return [...CHROMIUM_FLAGS, `--use-file-for-fake-video-capture=${media.video}`, `--use-file-for-fake-audio-capture=${media.audio}`];
}

/** The default Chromium, for tests that skip themselves without one. */
export function defaultChromiumPath(): string {
  return process.env.SFU_RECORDER_CHROMIUM ?? '/usr/bin/chromium';
}

/**
 * A real WebRTC peer for tests: headless Chromium whose fake camera and microphone
 * play a flash/beep file pair, publishing through mediasoup-client into a
 * WebRtcTransport on the given router (ICE, DTLS and SRTP as in production). The
 * producers carry `appData.peerId` / `streamId`, so an `SfuRecorder` on the
 * router records them like any browser's.
 *
 * Needs the optional packages `playwright-core`, `mediasoup-client` and `esbuild`
 * (the page is bundled on first use), and a Chromium binary.
 */
export class BrowserPeer {
  readonly peerId: string;
  readonly streamId: string;
  /** The browser's sender reports per producer id (enable with `traceSenderReports`). */
  readonly senderReports = new Map<string, BrowserSenderReport[]>();
  readonly #options: BrowserPeerOptions;
  readonly #browser: { close(): Promise<void> };
  readonly #page: PageHandle;
  readonly #server: Server;
  readonly #producers = new Map<string, ms.Producer>();
  #transport: ms.WebRtcTransport | undefined;
  #relay: UdpRelay | undefined;
  #connected: Promise<void> | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  private constructor(options: BrowserPeerOptions, browser: { close(): Promise<void> }, page: PageHandle, server: Server) {
    this.#options = options;
    this.peerId = options.peerId;
    this.streamId = options.streamId ?? `${options.peerId}-camera`;
    this.#browser = browser;
    this.#page = page;
    this.#server = server;
  }

  /** Starts Chromium with the fake devices, loads the page and mediasoup-client's Device. */
  static async launch(options: BrowserPeerOptions): Promise<BrowserPeer> {
    const capture = options.capture ?? { width: 640, height: 360, frameRate: 30 };
    const media = options.media ?? (await generateSyncMedia({ width: capture.width, height: capture.height, fps: capture.frameRate }));
    const executablePath = options.executablePath ?? defaultChromiumPath();
    if (!existsSync(executablePath)) {
      throw new SfuRecorderError('ERR_BROWSER_MISSING', `no Chromium at ${executablePath} (install Debian's chromium, or set SFU_RECORDER_CHROMIUM)`);
    }
    const { chromium } = await import('playwright-core');
    const server = await servePage(await pageBundle());
    const browser = await chromium.launch({
      executablePath,
      headless: true,
      args: chromiumArgs(media),
    });
    try {
      const page = await browser.newPage();
      const peer = new BrowserPeer({ ...options, capture }, browser, page as unknown as PageHandle, server);
      await page.exposeFunction('sfuSignal', (message: PageSignal) => peer.#onSignal(message));
      await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      await page.waitForFunction(() => 'sfuPeer' in globalThis);
      await peer.#call('load', options.router.rtpCapabilities);
      return peer;
    } catch (error) {
      await browser.close();
      server.close();
      throw error;
    }
  }

  /** The current WebRtcTransport (a new one after {@link reconnect}). */
  get transport(): ms.WebRtcTransport | undefined {
    return this.#transport;
  }

  get relay(): UdpRelay | undefined {
    return this.#relay;
  }

  /** Creates the WebRtcTransport and the page's send transport (connected on the first produce). */
  async connect(): Promise<void> {
    this.#assertOpen();
    const { router, listenIp = '127.0.0.1' } = this.#options;
    const transport = await router.createWebRtcTransport({
      listenInfos: [{ protocol: 'udp', ip: listenIp }],
      enableUdp: true,
      enableTcp: false,
      appData: { peerId: this.peerId },
    });
    this.#transport = transport;
    let iceCandidates: unknown[] = transport.iceCandidates;
    if (this.#options.network) {
      const candidate = transport.iceCandidates[0]!;
      this.#relay?.close();
      this.#relay = await UdpRelay.start({ ...this.#options.network, target: { address: candidate.address ?? candidate.ip, port: candidate.port } });
      iceCandidates = [{ ...candidate, ip: '127.0.0.1', address: '127.0.0.1', port: this.#relay.port }];
    }
    this.#connected = new Promise<void>((resolve, reject) => {
      transport.on('dtlsstatechange', (state) => {
        if (state === 'connected') resolve();
        if (state === 'failed' || state === 'closed') reject(new SfuRecorderError('ERR_BROWSER_DTLS', `DTLS ${state} for peer ${this.peerId}`));
      });
    });
    this.#connected.catch(() => undefined);
    await this.#call('createSendTransport', {
      id: transport.id,
      iceParameters: transport.iceParameters,
      iceCandidates,
      dtlsParameters: transport.dtlsParameters,
    });
  }

  /** Resolves when the current transport's DTLS handshake completed. */
  async connected(timeoutMs = 15_000): Promise<void> {
    this.#assertOpen();
    if (!this.#connected) throw new SfuRecorderError('ERR_INVALID_STATE', `peer ${this.peerId}: connected() before connect()`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new SfuRecorderError('ERR_BROWSER_DTLS', `peer ${this.peerId}: DTLS not connected after ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([this.#connected, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Publishes the fake camera or microphone; resolves with the server's producer. */
  async produce(options: BrowserProduceOptions): Promise<ms.Producer> {
    if (!this.#transport) await this.connect();
    const id = await this.#call('produce', {
      ...options,
      capture: this.#options.capture!,
      appData: { peerId: this.peerId, streamId: this.streamId, displayName: this.#options.displayName ?? this.peerId, ...options.appData },
    });
    return this.#producers.get(id)!;
  }

  /** Records the browser's sender reports of `producer` into {@link senderReports}. */
  async traceSenderReports(producer: ms.Producer): Promise<void> {
    const reports: BrowserSenderReport[] = [];
    this.senderReports.set(producer.id, reports);
    producer.on('trace', (trace) => {
      if (trace.type !== 'sr') return;
      const info = trace.info as { ssrc: number; ntpSec: number; ntpFrac: number; rtpTs: number };
      reports.push({ ssrc: info.ssrc, ntpMs: (info.ntpSec + info.ntpFrac / 2 ** 32) * 1000, rtpTimestamp: info.rtpTs });
    });
    await producer.enableTraceEvent(['sr']);
  }

  /** Mutes like an application does: the page pauses its producer and the server pauses its own. */
  async pause(producer: ms.Producer): Promise<void> {
    await this.#call('pause', producer.id);
    await producer.pause();
  }

  async resume(producer: ms.Producer): Promise<void> {
    await producer.resume();
    await this.#call('resume', producer.id);
  }

  /** `replaceTrack(null)` with `false` (the sender stops sending, the producer is not paused), the track again with `true`. */
  replaceTrack(producer: ms.Producer, withTrack: boolean): Promise<void> {
    return this.#call('replaceTrack', producer.id, withTrack);
  }

  /** Changes the camera's capture size (the encoder follows with new frame sizes). */
  setResolution(producer: ms.Producer, width: number, height: number): Promise<void> {
    return this.#call('setResolution', producer.id, width, height);
  }

  setMaxSpatialLayer(producer: ms.Producer, layer: number): Promise<void> {
    return this.#call('setMaxSpatialLayer', producer.id, layer);
  }

  closeProducer(producer: ms.Producer): Promise<void> {
    return this.#call('closeProducer', producer.id);
  }

  /**
   * Drops the transport (as a browser whose network changed would) and publishes the
   * same kinds again on a new one: new producers, same peer and stream.
   */
  async reconnect(produce: BrowserProduceOptions[]): Promise<ms.Producer[]> {
    await this.#call('closeTransport');
    this.#transport?.close();
    this.#producers.clear();
    await this.connect();
    const producers: ms.Producer[] = [];
    for (const options of produce) producers.push(await this.produce(options));
    return producers;
  }

  /** True from the moment {@link close} is called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Closes the transport, the relay, Chromium and the page server. `closed` is true at once;
   * calling it again (also while it runs) returns the same promise. Calls after it reject
   * with `ERR_CLOSED`.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#closing = (async () => {
      this.#transport?.close();
      this.#relay?.close();
      await this.#browser.close().catch(() => undefined);
      this.#server.close();
    })();
    return this.#closing;
  }

  #assertOpen(): void {
    if (this.#closed) throw closedError(`browser peer ${this.peerId}`);
  }

  async #onSignal(message: PageSignal): Promise<unknown> {
    const transport = this.#transport;
    if (!transport || transport.id !== message.transportId) return undefined;
    switch (message.type) {
      case 'connect':
        await transport.connect({ dtlsParameters: message.dtlsParameters as ms.DtlsParameters });
        return undefined;
      case 'produce': {
        const producer = await transport.produce({
          kind: message.kind,
          rtpParameters: message.rtpParameters as ms.RtpParameters,
          appData: message.appData,
        });
        this.#producers.set(producer.id, producer);
        return producer.id;
      }
    }
  }

  // Errors thrown in the page (plain Errors, see page.ts) come back through Playwright and
  // are translated here, so none leaves the peer bare.
  async #call<K extends keyof PageApi>(method: K, ...args: Parameters<PageApi[K]>): Promise<Awaited<ReturnType<PageApi[K]>>> {
    if (this.#closed) throw closedError(`browser peer ${this.peerId}`);
    try {
      return (await this.#page.evaluate(
        ([name, params]) => (globalThis as unknown as { sfuPeer: Record<string, (...a: unknown[]) => unknown> }).sfuPeer[name]!(...params),
        [method, args] as const,
      )) as Awaited<ReturnType<PageApi[K]>>;
    } catch (error) {
      if (this.#closed) throw closedError(`browser peer ${this.peerId}`);
      const message = error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
      throw new SfuRecorderError('ERR_INVALID_STATE', `browser peer ${this.peerId}: ${method}() failed in the page: ${message}`, { cause: error });
    }
  }
}

/** The part of Playwright's Page the peer uses. */
interface PageHandle {
  evaluate<R, A>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R>;
}

let bundled: Promise<string> | undefined;

/** The page script: prebuilt next to this module in the package, bundled with esbuild from the sources otherwise. */
function pageBundle(): Promise<string> {
  bundled ??= (async () => {
    const here = dirname(fileURLToPath(import.meta.url));
    const prebuilt = join(here, 'browser-page.global.js');
    if (existsSync(prebuilt)) return (await import('node:fs/promises')).readFile(prebuilt, 'utf8');
    const esbuild = await import('esbuild');
    const result = await esbuild.build({
      entryPoints: [join(here, 'page.ts')],
      bundle: true,
      write: false,
      format: 'iife',
      platform: 'browser',
      target: 'chrome120',
      logLevel: 'silent',
    });
    return result.outputFiles[0]!.text;
  })();
  return bundled;
}

/** Serves the page on loopback: getUserMedia needs a secure context, which 127.0.0.1 is. */
function servePage(script: string): Promise<Server> {
  const html = '<!doctype html><html><head><meta charset="utf-8"><title>sfu-recorder browser peer</title></head><body><script src="/page.js"></script></body></html>';
  const server = createServer((request, response) => {
    const isScript = request.url === '/page.js';
    response.writeHead(200, { 'content-type': isScript ? 'text/javascript' : 'text/html' });
    response.end(isScript ? script : html);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}
