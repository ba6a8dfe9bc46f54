/*
 * sfu-recorder: libsrtp 3 -> libsrtp 2 compatibility header.
 *
 * mediasoup 3.19 is written against the libsrtp 3 API and includes <srtp.h>.
 * Debian ships libsrtp 2 (<srtp2/srtp.h>), whose protect/unprotect functions
 * work in place with an `int*` length, while 3.x copies from an input buffer
 * into an output buffer with `size_t` lengths and checks the output capacity.
 * This header includes the 2.x API and adds C++ overloads with the 3.x
 * signatures the worker uses; mediasoup's own sources stay untouched.
 *
 * Used only by the offline worker build in scripts/bootstrap.mjs.
 */
#ifndef SFU_RECORDER_SRTP3_COMPAT_H
#define SFU_RECORDER_SRTP3_COMPAT_H

#include <srtp2/srtp.h>

#ifdef __cplusplus

#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>

/* Error codes added by libsrtp 3 (same numeric values as in 3.x). */
#ifndef SFU_SRTP2_HAS_ERR_BUFFER_SMALL
static_assert(srtp_err_status_pkt_idx_adv == 27, "unexpected libsrtp2 srtp_err_status_t layout");
constexpr srtp_err_status_t srtp_err_status_buffer_small = static_cast<srtp_err_status_t>(28);
#endif
#ifndef SFU_SRTP2_HAS_ERR_CRYPTEX_ERR
constexpr srtp_err_status_t srtp_err_status_cryptex_err = static_cast<srtp_err_status_t>(29);
#endif

namespace sfu_recorder_srtp3_compat
{
	/* Bytes SRTCP appends besides the trailer: the E flag + SRTCP index. */
	constexpr size_t SrtcpIndexLen = 4;

	using InPlaceFn = srtp_err_status_t (*)(srtp_t, void*, int*);

	/*
	 * Copies `in` to `out` (when they differ), checks that `out` (capacity
	 * *outLen) can hold the packet plus `extra` bytes, runs the in-place
	 * libsrtp 2 function and writes the resulting length to *outLen.
	 */
	inline srtp_err_status_t Run(
	  InPlaceFn fn, srtp_t ctx, const uint8_t* in, size_t inLen, uint8_t* out, size_t* outLen, size_t extra)
	{
		if (!in || !out || !outLen)
		{
			return srtp_err_status_bad_param;
		}

		if (inLen > static_cast<size_t>(INT_MAX) - extra)
		{
			return srtp_err_status_bad_param;
		}

		if (*outLen < inLen + extra)
		{
			return srtp_err_status_buffer_small;
		}

		if (out != in)
		{
			std::memmove(out, in, inLen);
		}

		int len = static_cast<int>(inLen);
		const srtp_err_status_t err = fn(ctx, out, &len);

		if (err == srtp_err_status_ok)
		{
			*outLen = static_cast<size_t>(len);
		}

		return err;
	}
} // namespace sfu_recorder_srtp3_compat

/* libsrtp 3: srtp_protect(ctx, rtp, rtp_len, srtp, &srtp_len, mki_index). */
inline srtp_err_status_t srtp_protect(
  srtp_t ctx, const uint8_t* rtp, size_t rtp_len, uint8_t* srtp, size_t* srtp_len, size_t mki_index)
{
	if (mki_index != 0)
	{
		/* mediasoup never configures MKI. */
		return srtp_err_status_bad_mki;
	}

	return sfu_recorder_srtp3_compat::Run(
	  static_cast<sfu_recorder_srtp3_compat::InPlaceFn>(&::srtp_protect),
	  ctx,
	  rtp,
	  rtp_len,
	  srtp,
	  srtp_len,
	  SRTP_MAX_TRAILER_LEN);
}

/* libsrtp 3: srtp_unprotect(ctx, srtp, srtp_len, rtp, &rtp_len). */
inline srtp_err_status_t srtp_unprotect(
  srtp_t ctx, const uint8_t* srtp, size_t srtp_len, uint8_t* rtp, size_t* rtp_len)
{
	return sfu_recorder_srtp3_compat::Run(
	  static_cast<sfu_recorder_srtp3_compat::InPlaceFn>(&::srtp_unprotect),
	  ctx,
	  srtp,
	  srtp_len,
	  rtp,
	  rtp_len,
	  0);
}

/* libsrtp 3: srtp_protect_rtcp(ctx, rtcp, rtcp_len, srtcp, &srtcp_len, mki_index). */
inline srtp_err_status_t srtp_protect_rtcp(
  srtp_t ctx, const uint8_t* rtcp, size_t rtcp_len, uint8_t* srtcp, size_t* srtcp_len, size_t mki_index)
{
	if (mki_index != 0)
	{
		return srtp_err_status_bad_mki;
	}

	return sfu_recorder_srtp3_compat::Run(
	  static_cast<sfu_recorder_srtp3_compat::InPlaceFn>(&::srtp_protect_rtcp),
	  ctx,
	  rtcp,
	  rtcp_len,
	  srtcp,
	  srtcp_len,
	  SRTP_MAX_TRAILER_LEN + sfu_recorder_srtp3_compat::SrtcpIndexLen);
}

/* libsrtp 3: srtp_unprotect_rtcp(ctx, srtcp, srtcp_len, rtcp, &rtcp_len). */
inline srtp_err_status_t srtp_unprotect_rtcp(
  srtp_t ctx, const uint8_t* srtcp, size_t srtcp_len, uint8_t* rtcp, size_t* rtcp_len)
{
	return sfu_recorder_srtp3_compat::Run(
	  static_cast<sfu_recorder_srtp3_compat::InPlaceFn>(&::srtp_unprotect_rtcp),
	  ctx,
	  srtcp,
	  srtcp_len,
	  rtcp,
	  rtcp_len,
	  0);
}

/* libsrtp 3 renamed srtp_remove_stream(); both take the SSRC in network order. */
inline srtp_err_status_t srtp_stream_remove(srtp_t session, uint32_t ssrc)
{
	return srtp_remove_stream(session, ssrc);
}

#endif /* __cplusplus */

#endif /* SFU_RECORDER_SRTP3_COMPAT_H */
