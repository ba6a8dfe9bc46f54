import type { types as ms } from 'mediasoup';
import { CODECS, findCodec, type RecordableMimeType } from '../codecs/registry.js';
import { SfuRecorderError } from '../errors.js';

/** Codecs the recorder can capture and finalise (from the codec registry). */
export const RECORDABLE_MIME_TYPES: readonly RecordableMimeType[] = Object.freeze(CODECS.map((codec) => codec.mimeType));

/** A producer uses a codec the recorder cannot finalise. */
export class UnsupportedCodecError extends SfuRecorderError {
  readonly mimeType: string;

  constructor(mimeType: string, producerId: string) {
    super(
      'ERR_UNSUPPORTED_CODEC',
      `producer ${producerId} uses ${mimeType}, which cannot be recorded (supported: ${RECORDABLE_MIME_TYPES.join(', ')})`,
    );
    this.name = 'UnsupportedCodecError';
    this.mimeType = mimeType;
  }
}

/** The media codec of a producer (its first non-RTX codec). */
export function producerMimeType(producer: ms.Producer): string {
  const codec = producer.rtpParameters.codecs.find((c) => !/\/rtx$/i.test(c.mimeType));
  return codec?.mimeType ?? 'unknown';
}

/** Throws {@link UnsupportedCodecError} unless the producer's codec is in the codec registry. */
export function assertRecordable(producer: ms.Producer): void {
  const mimeType = producerMimeType(producer);
  if (!findCodec(mimeType)) throw new UnsupportedCodecError(mimeType, producer.id);
}

/**
 * The capabilities the recorder consumes with: the router's codecs without RTX, and
 * only the feedback that keyframe requests need. No header extensions: nothing in
 * finalisation reads them, and each one costs bytes on every packet.
 */
export function recorderRtpCapabilities(router: ms.Router): ms.RtpCapabilities {
  return {
    codecs: (router.rtpCapabilities.codecs ?? [])
      .filter((codec) => !/\/rtx$/i.test(codec.mimeType))
      .map((codec) => ({
        ...codec,
        rtcpFeedback: (codec.rtcpFeedback ?? []).filter(
          (fb) => (fb.type === 'nack' && fb.parameter === 'pli') || (fb.type === 'ccm' && fb.parameter === 'fir'),
        ),
      })),
    headerExtensions: [],
  };
}
