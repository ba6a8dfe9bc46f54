/** What the Node side of a {@link BrowserPeer} and its page say to each other. */

/** The server half of a send transport, as mediasoup created it. */
export interface PageTransportOptions {
  id: string;
  iceParameters: unknown;
  iceCandidates: unknown[];
  dtlsParameters: unknown;
}

/** One producer to create in the page. */
export interface PageProduceOptions {
  kind: 'audio' | 'video';
  /** Force a codec (`video/VP8`, `video/VP9`, `video/H264`); default the browser's first. */
  mimeType?: string;
  /** With `video/H264`: the profile-level-id to pick among the browser's H.264 codecs. */
  h264ProfileLevelId?: string;
  /** Simulcast (several) or SVC (one with `scalabilityMode`) encodings. */
  encodings?: Array<Record<string, unknown>>;
  codecOptions?: Record<string, unknown>;
  appData: Record<string, unknown>;
  /** The camera capture the fake device is opened with. */
  capture: { width: number; height: number; frameRate: number };
}

/** Calls the page sends to the Node side. */
export type PageSignal =
  | { type: 'connect'; transportId: string; dtlsParameters: unknown }
  | { type: 'produce'; transportId: string; kind: 'audio' | 'video'; rtpParameters: unknown; appData: Record<string, unknown> };

/** What the page offers as `window.sfuPeer`. */
export interface PageApi {
  load(routerRtpCapabilities: unknown): Promise<unknown>;
  createSendTransport(options: PageTransportOptions): Promise<void>;
  produce(options: PageProduceOptions): Promise<string>;
  pause(producerId: string): Promise<void>;
  resume(producerId: string): Promise<void>;
  /** `false`: `replaceTrack(null)` (the sender stops); `true`: the original track again. */
  replaceTrack(producerId: string, withTrack: boolean): Promise<void>;
  setResolution(producerId: string, width: number, height: number): Promise<void>;
  setMaxSpatialLayer(producerId: string, layer: number): Promise<void>;
  closeProducer(producerId: string): Promise<void>;
  closeTransport(): Promise<void>;
  stats(producerId: string): Promise<Array<Record<string, unknown>>>;
}
