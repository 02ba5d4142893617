/*
 * omx_init.c - library init/finalize, driver selection, configuration and
 * error handlers.  Every OMX_ variable the library uses is read here, once.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "omx_lib.h"
#include "omx_log.h"

struct omx__globals omx__globals = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.endpoints = { &omx__globals.endpoints, &omx__globals.endpoints },
};

void omx__log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	omx_log_vline(fmt, ap);
	va_end(ap);
}

/* ---- configuration ------------------------------------------------------ */

/* Every numeric variable: name, help (with its default), default, range.
 * max 0 means "the largest medium message of board 0". */
struct omx__env_var {
	const char *name;
	const char *help;
	uint32_t def, min, max;
	size_t offset;                /* of a uint32_t in struct omx__config */
};

#define OMX__CFG(field) offsetof(struct omx__config, field)

/* The reference's defaults: rendezvous at 32 KiB (4 KiB same-host), 1000
 * resends every ~HZ/2, an ack after 4 unacked messages or ~HZ/64, 512
 * zombies.  OMX_FATAL_ERRORS defaults to 0: errors are returned. */
static const struct omx__env_var omx__env_vars[] = {
	{ "OMX_VERBOSE", "verbosity 0..100 (default 0)", 0, 0, 100, OMX__CFG(verbose) },
	{ "OMX_FATAL_ERRORS", "1: errors abort as in the reference (default 0: returned)", 0, 0, 1,
	  OMX__CFG(fatal_errors) },
	{ "OMX_RNDV_THRESHOLD", "bytes above which a message is large (default 32768)", 32768,
	  OMX_SMALL_MSG_LENGTH_MAX, 0, OMX__CFG(rndv_threshold) },
	/* Shared 4 KiB measured on 2 vCPUs (omx_perf, issue 5): a large message
	 * (one process_vm_readv) ties a medium one in ping-pong up to 64 KiB and
	 * wins streaming, where mediums overflow the receiver's queue. */
	{ "OMX_SHARED_RNDV_THRESHOLD", "the same for same-host peers (default 4096)", 4096,
	  OMX_SMALL_MSG_LENGTH_MAX, 0, OMX__CFG(shared_rndv_threshold) },
	{ "OMX_RESENDS_MAX", "resends before a partner is unreachable (default 1000)", 1000, 1,
	  UINT32_MAX, OMX__CFG(resends_max) },
	{ "OMX_RESEND_DELAY_MS", "milliseconds between resends (default 500)", 500, 1, 3600 * 1000,
	  OMX__CFG(resend_delay_ms) },
	{ "OMX_NOTACKED_MAX", "unacked messages that trigger an immediate ack (default 4)", 4, 1,
	  OMX__THROTTLING_OFFSET_MAX, OMX__CFG(notacked_max) },
	{ "OMX_ACK_DELAY_MS", "milliseconds an ack may wait for a piggyback (default 16)", 16, 0,
	  60 * 1000, OMX__CFG(ack_delay_ms) },
	{ "OMX_ZOMBIE_SEND", "buffered sends completed before their ack (default 512)", 512, 0,
	  UINT32_MAX, OMX__CFG(zombie_max) },
	{ "OMX_LINGER_MS", "milliseconds a close waits for its sends to be acked (default 1000, 0: off)",
	  1000, 0, 3600 * 1000, OMX__CFG(linger_ms) },
	{ "OMX_DISABLE_SELF", "1: messages to self go through the driver (default 0)", 0, 0, 1,
	  OMX__CFG(disable_self) },
	{ "OMX_DISABLE_SHARED", "1: never use the driver's intra-host path (default 0)", 0, 0, 1,
	  OMX__CFG(disable_shared) },
};

/* Parse one variable; bad or out-of-range values fall back with a warning. */
static uint32_t omx__env_uint(const struct omx__env_var *v, uint32_t max)
{
	const char *s = getenv(v->name);
	unsigned long long val;
	char *end;

	if (!s || !*s)
		return v->def;
	errno = 0;
	val = strtoull(s, &end, 0);
	if (errno || *end || *s == '-') {
		omx__log("%s=\"%s\" is not a number, using %u (%s)", v->name, s, v->def, v->help);
		return v->def;
	}
	if (val < v->min || val > max) {
		uint32_t c = val < v->min ? v->min : max;

		omx__log("%s=%llu is out of [%u, %u], clamped to %u (%s)", v->name, val, v->min, max, c,
			 v->help);
		return c;
	}
	return (uint32_t)val;
}

static void omx__env_ctxids(struct omx__config *cfg)
{
	const char *s = getenv("OMX_CTXIDS");
	unsigned bits, shift;
	char tail;

	cfg->ctxid_bits = 0;
	cfg->ctxid_shift = 0;
	if (!s || !*s)
		return;
	if (sscanf(s, "%u,%u%c", &bits, &shift, &tail) != 2 ||
	    bits > OMX_ENDPOINT_CONTEXT_ID_BITS_MAX || bits + shift > 64) {
		omx__log("OMX_CTXIDS=\"%s\" is invalid (want bits,shift with bits <= %d and "
			 "bits+shift <= 64), context ids disabled", s, OMX_ENDPOINT_CONTEXT_ID_BITS_MAX);
		return;
	}
	cfg->ctxid_bits = (uint8_t)bits;
	cfg->ctxid_shift = (uint8_t)shift;
}

/* Read once, at omx_init. */
static void omx__read_env(uint32_t medium_max)
{
	struct omx__config *cfg = &omx__globals.cfg;
	size_t i;

	for (i = 0; i < sizeof(omx__env_vars) / sizeof(omx__env_vars[0]); i++) {
		const struct omx__env_var *v = &omx__env_vars[i];
		uint32_t val = omx__env_uint(v, v->max ? v->max : medium_max);

		*(uint32_t *)((char *)cfg + v->offset) = val;
	}
	omx__env_ctxids(cfg);
}

/* Driver selection (OMX_DRIVER) is omx_abi_driver_open, shared with the
 * tools: xen_split/omx_split_front_select.c. */

/* ---- init / finalize ---------------------------------------------------- */

omx_return_t omx__init_api(int api)
{
	struct omx_abi_driver *drv = NULL;
	struct omx_abi_board_info board;
	uint32_t medium_max = OMX_MEDIUM_FRAGS_MAX * 8192;
	omx_return_t ret;
	int err;

	if ((api >> 8) != (OMX_API >> 8))
		return omx__error(NULL, OMX_BAD_LIB_ABI,
				  "application API 0x%x does not match library API 0x%x", api, OMX_API);

	pthread_mutex_lock(&omx__globals.lock);
	if (omx__globals.initialized) {
		ret = OMX_ALREADY_INITIALIZED;
		goto out_unlock;
	}
	omx__globals.error_handler = NULL;
	err = omx_abi_driver_open(&drv);
	if (err < 0) {
		ret = err == OMX_ABI_EPERM ? OMX_ACCESS_DENIED : OMX_NO_DRIVER;
		goto out_unlock;
	}
	if (!drv || !drv->ops || drv->ops->size != sizeof(struct omx_abi_ops)) {
		ret = OMX_BAD_KERNEL_ABI;
		goto out_close;
	}
	err = drv->ops->get_info(drv, &omx__globals.info);
	if (err < 0) {
		ret = OMX_NO_DRIVER;
		goto out_close;
	}
	if ((omx__globals.info.abi_version >> 8) != (OMX_ABI_VERSION >> 8)) {
		ret = OMX_BAD_KERNEL_ABI;
		goto out_close;
	}
	if (omx__globals.info.hz == 0)
		omx__globals.info.hz = 1000;
	if (omx__globals.info.board_count > 0 && drv->ops->get_board_info(drv, 0, &board) == 0 &&
	    board.medium_frag_length_max)
		medium_max = OMX_MEDIUM_FRAGS_MAX * board.medium_frag_length_max;

	omx__read_env(medium_max);
	omx__globals.drv = drv;
	omx_list_init(&omx__globals.endpoints);
	omx__globals.initialized = 1;
	pthread_mutex_unlock(&omx__globals.lock);
	return OMX_SUCCESS;

out_close:
	drv->ops->close(drv);
out_unlock:
	pthread_mutex_unlock(&omx__globals.lock);
	return omx__error(NULL, ret, "omx_init failed");
}

omx_return_t omx_finalize(void)
{
	struct omx_abi_driver *drv;

	if (!omx__globals.initialized)
		return omx__error(NULL, OMX_NOT_INITIALIZED, "omx_finalize before omx_init");
	omx__close_all_endpoints();
	pthread_mutex_lock(&omx__globals.lock);
	drv = omx__globals.drv;
	omx__globals.drv = NULL;
	omx__globals.initialized = 0;
	pthread_mutex_unlock(&omx__globals.lock);
	if (drv)
		drv->ops->close(drv);
	return OMX_SUCCESS;
}

/* ---- error handlers ----------------------------------------------------- */

omx_return_t omx_errors_are_fatal(char *str, omx_return_t ret)
{
	omx__log("%s: %s", str ? str : "error", omx_strerror(ret));
	abort();
}

omx_return_t omx_errors_return(char *str, omx_return_t ret)
{
	(void)str;
	return ret;
}

static omx_error_handler_t omx__default_handler(void)
{
	if (omx__globals.error_handler)
		return omx__globals.error_handler;
	return omx__globals.cfg.fatal_errors ? omx_errors_are_fatal : omx_errors_return;
}

omx_error_handler_t omx_set_error_handler(omx_endpoint_t ep, omx_error_handler_t handler)
{
	omx_error_handler_t old;

	if (ep) {
		omx__lock(ep);
		old = ep->error_handler ? ep->error_handler : omx__default_handler();
		ep->error_handler = handler;
		omx__unlock(ep);
	} else {
		old = omx__default_handler();
		omx__globals.error_handler = handler;
	}
	return old;
}

omx_return_t omx__error(struct omx_endpoint *ep, omx_return_t ret, const char *fmt, ...)
{
	omx_error_handler_t handler;
	char msg[256];
	va_list ap;

	if (ret == OMX_SUCCESS)
		return ret;
	handler = ep && ep->error_handler ? ep->error_handler : omx__default_handler();
	/* The return path stays silent and cheap: no formatting at all. */
	if (handler == omx_errors_return)
		return ret;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return handler(msg, ret);
}

omx_return_t omx__abi_to_ret(int abi_err)
{
	switch (abi_err) {
	case OMX_ABI_OK:
		return OMX_SUCCESS;
	case OMX_ABI_EAGAIN:
	case OMX_ABI_ENOMEM:
		return OMX_NO_SYSTEM_RESOURCES;
	case OMX_ABI_EBUSY:
		return OMX_BUSY;
	case OMX_ABI_ENODEV:
		return OMX_BOARD_NOT_FOUND;
	case OMX_ABI_EINVAL:
		return OMX_BAD_ENDPOINT;
	case OMX_ABI_EPERM:
		return OMX_ACCESS_DENIED;
	case OMX_ABI_ENOENT:
		return OMX_PEER_NOT_FOUND;
	case OMX_ABI_ENOSPC:
		return OMX_NO_RESOURCES;
	case OMX_ABI_ENOSYS:
		return OMX_NOT_IMPLEMENTED;
	case OMX_ABI_ETIMEDOUT:
		return OMX_TIMEOUT;
	default:
		return OMX_BAD_ERROR;
	}
}

uint64_t omx__ms_to_jiffies(uint32_t ms)
{
	uint64_t hz = omx__globals.info.hz ? omx__globals.info.hz : 1000;
	uint64_t j = ((uint64_t)ms * hz + 999) / 1000;

	return j ? j : 1;
}

/* Resends that fit in a timeout, at the configured resend delay. */
uint32_t omx__timeout_to_resends(uint32_t ms)
{
	uint32_t delay = omx__globals.cfg.resend_delay_ms ? omx__globals.cfg.resend_delay_ms : 500;
	uint64_t r = ((uint64_t)ms + delay - 1) / delay;

	if (r < 1)
		r = 1;
	return r > UINT32_MAX ? UINT32_MAX : (uint32_t)r;
}
