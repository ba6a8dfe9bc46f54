/*
 * sfu-recorder: libsrtp 3 policy API -> libsrtp 2 (mediasoup 3.27 line).
 *
 * libsrtp 3 (as mediasoup 3.27 uses it) makes srtp_policy_t an opaque handle
 * built with srtp_policy_create(), srtp_policy_set_ssrc/_profile/
 * _allow_repeat_tx/_window_size(), srtp_policy_add_key() and released with
 * srtp_policy_destroy(); libsrtp 2 has a plain struct of that name. Debian's
 * <srtp2/srtp.h> is included with its struct renamed (C linkage does not carry
 * type names, so the library's functions are unaffected), srtp_policy_t becomes
 * a handle owning one such struct and its key, and srtp_create() gets an
 * overload taking the handle. The 3.x protect/unprotect overloads come from the
 * 3.19 line's header (include/srtp.h), reached with #include_next.
 *
 * Used only by the offline worker build in scripts/bootstrap.mjs.
 */
#ifndef SFU_RECORDER_SRTP3_POLICY_COMPAT_H
#define SFU_RECORDER_SRTP3_POLICY_COMPAT_H

#define srtp_policy_t sfu_recorder_srtp2_policy_t
#include <srtp2/srtp.h>
#undef srtp_policy_t

#include_next <srtp.h>

#ifdef __cplusplus

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>

struct sfu_recorder_srtp3_policy
{
	sfu_recorder_srtp2_policy_t policy;
	/* libsrtp 2 takes key and salt as one buffer: master key then master salt. */
	unsigned char key[SRTP_MAX_KEY_LEN];
	bool hasProfile;
	bool hasKey;
};

typedef sfu_recorder_srtp3_policy* srtp_policy_t;

inline srtp_err_status_t srtp_policy_create(srtp_policy_t* policy)
{
	if (!policy)
	{
		return srtp_err_status_bad_param;
	}

	auto* handle = new (std::nothrow) sfu_recorder_srtp3_policy{};

	if (!handle)
	{
		return srtp_err_status_alloc_fail;
	}

	handle->policy.key = handle->key;
	*policy            = handle;

	return srtp_err_status_ok;
}

inline void srtp_policy_destroy(srtp_policy_t policy)
{
	if (policy)
	{
		/* Do not leave key material behind in freed memory. */
		std::memset(policy->key, 0, sizeof(policy->key));
		delete policy;
	}
}

inline srtp_err_status_t srtp_policy_set_ssrc(srtp_policy_t policy, srtp_ssrc_t ssrc)
{
	if (!policy)
	{
		return srtp_err_status_bad_param;
	}

	policy->policy.ssrc = ssrc;

	return srtp_err_status_ok;
}

inline srtp_err_status_t srtp_policy_set_profile(srtp_policy_t policy, srtp_profile_t profile)
{
	if (!policy)
	{
		return srtp_err_status_bad_param;
	}

	srtp_err_status_t err = srtp_crypto_policy_set_from_profile_for_rtp(&policy->policy.rtp, profile);

	if (err == srtp_err_status_ok)
	{
		err = srtp_crypto_policy_set_from_profile_for_rtcp(&policy->policy.rtcp, profile);
	}

	policy->hasProfile = (err == srtp_err_status_ok);

	return err;
}

inline srtp_err_status_t srtp_policy_add_key(
  srtp_policy_t policy,
  const uint8_t* key,
  size_t key_len,
  const uint8_t* salt,
  size_t salt_len,
  const uint8_t* mki,
  size_t mki_len)
{
	if (!policy || !key || !salt || key_len + salt_len > sizeof(policy->key))
	{
		return srtp_err_status_bad_param;
	}

	/* mediasoup configures one key and no MKI; libsrtp 2 keeps MKIs elsewhere. */
	if (mki || mki_len != 0 || policy->hasKey)
	{
		return srtp_err_status_bad_param;
	}

	std::memcpy(policy->key, key, key_len);
	std::memcpy(policy->key + key_len, salt, salt_len);
	policy->hasKey = true;

	return srtp_err_status_ok;
}

inline srtp_err_status_t srtp_policy_set_allow_repeat_tx(srtp_policy_t policy, bool allow)
{
	if (!policy)
	{
		return srtp_err_status_bad_param;
	}

	policy->policy.allow_repeat_tx = allow ? 1 : 0;

	return srtp_err_status_ok;
}

inline srtp_err_status_t srtp_policy_set_window_size(srtp_policy_t policy, size_t window_size)
{
	if (!policy)
	{
		return srtp_err_status_bad_param;
	}

	policy->policy.window_size = static_cast<unsigned long>(window_size);

	return srtp_err_status_ok;
}

inline srtp_err_status_t srtp_create(srtp_t* session, srtp_policy_t policy)
{
	if (!policy || !policy->hasProfile || !policy->hasKey)
	{
		return srtp_err_status_bad_param;
	}

	return srtp_create(session, &policy->policy);
}

#endif /* __cplusplus */

#endif /* SFU_RECORDER_SRTP3_POLICY_COMPAT_H */
