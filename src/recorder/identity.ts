import type { types as ms } from 'mediasoup';
import type { StreamSource } from '../timeline/events.js';

/** Which peer and stream a producer belongs to. */
export interface ProducerIdentity {
  peerId: string;
  /**
   * The stream the producer is part of. Producers of one peer with the same
   * `streamId` (or, without one, the same `source`) are recorded into one file.
   */
  streamId?: string;
  /** `camera` (camera + microphone) or `screen` (a share and its audio). Default `camera`. */
  source?: StreamSource;
  /** Shown on the peer's tile in the composite when it has no video. */
  displayName?: string;
}

/**
 * Maps a producer to its peer and stream, or returns `undefined` to leave it
 * unrecorded. `transport` is the transport the producer arrived on, when known.
 */
export type IdentifyProducer = (producer: ms.Producer, transport: ms.Transport | undefined) => ProducerIdentity | undefined;

const SCREEN_SOURCES = new Set(['screen', 'screen-audio', 'screenaudio', 'screenshare', 'screen-share', 'share']);

/**
 * The default mapping: `appData.peerId` and `appData.streamId` of the producer (or of
 * its transport), and a screen share recognised by `appData.source` / `appData.share`.
 * Without a peer id the transport id stands in: one transport belongs to one peer.
 */
export const identifyFromAppData: IdentifyProducer = (producer, transport) => {
  const app = producer.appData as Record<string, unknown>;
  const transportApp = (transport?.appData ?? {}) as Record<string, unknown>;
  const peerId = str(app.peerId) ?? str(transportApp.peerId) ?? transport?.id;
  if (peerId === undefined) return undefined;
  const sourceHint = (str(app.source) ?? str(app.mediaTag) ?? '').toLowerCase();
  const source: StreamSource = SCREEN_SOURCES.has(sourceHint) || app.share === true ? 'screen' : 'camera';
  const streamId = str(app.streamId);
  const displayName = str(app.displayName) ?? str(transportApp.displayName);
  return { peerId, source, ...(streamId ? { streamId } : {}), ...(displayName ? { displayName } : {}) };
};

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}
