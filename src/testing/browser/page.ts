/**
 * The page side of {@link BrowserPeer}: runs in Chromium, publishes the fake camera and
 * microphone through mediasoup-client. The Node side drives it with `page.evaluate`
 * calls on `window.sfuPeer`; the page asks the Node side for the server half of each
 * step (transport connect, produce) through the exposed `window.sfuSignal` binding.
 */
import { Device, type types } from 'mediasoup-client';
import type { PageApi, PageProduceOptions, PageSignal, PageTransportOptions } from './protocol.js';

declare global {
  interface Window {
    sfuPeer: PageApi;
    sfuSignal: (message: PageSignal) => Promise<unknown>;
  }
}

// The errors below are plain Errors on purpose: this runs in Chromium, where the library's
// classes do not exist. They never reach a caller as such: BrowserPeer's #call turns each
// into an SfuRecorderError (ERR_INVALID_STATE) naming the step.
const producers = new Map<string, { producer: types.Producer; track: MediaStreamTrack }>();
let device: Device | undefined;
let transport: types.Transport | undefined;
let media: MediaStream | undefined;

async function getMedia(options: { width: number; height: number; frameRate: number }): Promise<MediaStream> {
  media ??= await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    video: { width: { exact: options.width }, height: { exact: options.height }, frameRate: { ideal: options.frameRate } },
  });
  return media;
}

function producerOf(id: string): { producer: types.Producer; track: MediaStreamTrack } {
  const entry = producers.get(id);
  if (!entry) throw new Error(`no producer ${id} in the page`);
  return entry;
}

const api: PageApi = {
  async load(routerRtpCapabilities) {
    device = new Device();
    await device.load({ routerRtpCapabilities: routerRtpCapabilities as types.RtpCapabilities });
    return device.rtpCapabilities;
  },

  async createSendTransport(options: PageTransportOptions) {
    if (!device) throw new Error('load() first');
    transport?.close();
    const created = device.createSendTransport({
      id: options.id,
      iceParameters: options.iceParameters as types.IceParameters,
      iceCandidates: options.iceCandidates as types.IceCandidate[],
      dtlsParameters: options.dtlsParameters as types.DtlsParameters,
    });
    created.on('connect', ({ dtlsParameters }, callback, errback) => {
      window.sfuSignal({ type: 'connect', transportId: created.id, dtlsParameters }).then(() => callback(), errback);
    });
    created.on('produce', ({ kind, rtpParameters, appData }, callback, errback) => {
      window
        .sfuSignal({ type: 'produce', transportId: created.id, kind, rtpParameters, appData })
        .then((id) => callback({ id: id as string }), errback);
    });
    transport = created;
    // The tracks of the old transport's producers cannot move over: forget them.
    producers.clear();
  },

  async produce(options: PageProduceOptions) {
    if (!device || !transport) throw new Error('createSendTransport() first');
    const stream = await getMedia(options.capture);
    const source = options.kind === 'audio' ? stream.getAudioTracks()[0]! : stream.getVideoTracks()[0]!;
    const track = source.clone();
    const codec = options.mimeType
      ? device.rtpCapabilities.codecs?.find(
          (c) =>
            c.mimeType.toLowerCase() === options.mimeType!.toLowerCase() &&
            (options.h264ProfileLevelId === undefined || c.parameters?.['profile-level-id'] === options.h264ProfileLevelId),
        )
      : undefined;
    if (options.mimeType && !codec) throw new Error(`the browser cannot send ${options.mimeType}`);
    const producer = await transport.produce({
      track,
      ...(options.encodings ? { encodings: options.encodings as RTCRtpEncodingParameters[] } : {}),
      ...(codec ? { codec } : {}),
      ...(options.codecOptions ? { codecOptions: options.codecOptions } : {}),
      appData: options.appData,
      stopTracks: false,
    });
    producers.set(producer.id, { producer, track });
    return producer.id;
  },

  async pause(id) {
    producerOf(id).producer.pause();
  },

  async resume(id) {
    producerOf(id).producer.resume();
  },

  async replaceTrack(id, withTrack) {
    const entry = producerOf(id);
    await entry.producer.replaceTrack({ track: withTrack ? entry.track : null });
  },

  async setResolution(id, width, height) {
    await producerOf(id).track.applyConstraints({ width: { exact: width }, height: { exact: height } });
  },

  async setMaxSpatialLayer(id, layer) {
    await producerOf(id).producer.setMaxSpatialLayer(layer);
  },

  async closeProducer(id) {
    producerOf(id).producer.close();
    producers.delete(id);
  },

  async closeTransport() {
    transport?.close();
    transport = undefined;
    producers.clear();
  },

  async stats(id) {
    const report = await producerOf(id).producer.getStats();
    const out: Record<string, unknown>[] = [];
    report.forEach((entry) => {
      if (entry.type === 'outbound-rtp') out.push({ ...entry });
    });
    return out;
  },
};

window.sfuPeer = api;
