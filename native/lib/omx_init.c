/*
 * omx_init.c - library init/finalize, driver selection, configuration and
 * error handlers.  Every OMX_ variable the library uses is read here, once.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "omx_lib.h"
#include "omx_direct.h"

struct omx__globals omx__globals = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.endpoints = { &omx__globals.endpoints, &omx__globals.endpoints },
};

void omx__log(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	/* One write per line, so lines of several threads do not interleave. */
	n = snprintf(line, sizeof(line), "Open-MX: ");
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	strcat(line, "\n");
	fputs(line, stderr);
}

/* ---- configuration ------------------------------------------------------ */

/* Parse an unsigned variable; out-of-range values are clamped with a warning. */
static uint32_t omx__env_uint(const char *name, uint32_t def, uint32_t min, uint32_t max)
{
	const char *s = getenv(name);
	unsigned long long v;
	char *end;

	if (!s || !*s)
		return def;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || *s == '-') {
		omx__log("%s=\"%s\" is not a number, using the default %u", name, s, def);
		return def;
	}
	if (v < min) {
		omx__log("%s=%llu is below %u, clamped", name, v, min);
		return min;
	}
	if (v > max) {
		omx__log("%s=%llu is above %u, clamped", name, v, max);
		return max;
	}
	return (uint32_t)v;
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

/*
 * Defaults follow the reference: rendezvous at 32 KiB (4 KiB for same-host
 * peers), 1000 resends every ~HZ/2, an ack after 4 unacked messages or
 * ~HZ/64, 512 zombies.  OMX_FATAL_ERRORS defaults to 0: errors are returned.
 */
static void omx__read_env(uint32_t medium_max)
{
	struct omx__config *cfg = &omx__globals.cfg;

	cfg->verbose = (int)omx__env_uint("OMX_VERBOSE", 0, 0, 100);
	cfg->fatal_errors = (int)omx__env_uint("OMX_FATAL_ERRORS", 0, 0, 1);
	cfg->rndv_threshold = omx__env_uint("OMX_RNDV_THRESHOLD", 32768, OMX_SMALL_MSG_LENGTH_MAX,
					    medium_max);
	cfg->shared_rndv_threshold = omx__env_uint("OMX_SHARED_RNDV_THRESHOLD", 4096,
						   OMX_SMALL_MSG_LENGTH_MAX, medium_max);
	cfg->resends_max = omx__env_uint("OMX_RESENDS_MAX", 1000, 1, UINT32_MAX);
	cfg->resend_delay_ms = omx__env_uint("OMX_RESEND_DELAY_MS", 500, 1, 3600 * 1000);
	cfg->notacked_max = omx__env_uint("OMX_NOTACKED_MAX", 4, 1, OMX__THROTTLING_OFFSET_MAX);
	cfg->ack_delay_ms = omx__env_uint("OMX_ACK_DELAY_MS", 16, 0, 60 * 1000);
	cfg->zombie_max = omx__env_uint("OMX_ZOMBIE_SEND", 512, 0, UINT32_MAX);
	cfg->disable_self = (int)omx__env_uint("OMX_DISABLE_SELF", 0, 0, 1);
	cfg->disable_shared = (int)omx__env_uint("OMX_DISABLE_SHARED", 0, 0, 1);
	omx__env_ctxids(cfg);
}

/* ---- driver selection --------------------------------------------------- */

int omx_abi_driver_open(struct omx_abi_driver **out)
{
	const char *name = getenv("OMX_DRIVER");

	if (!name || !*name || !strcmp(name, "direct"))
		return omx_drv_direct_open(out);
	if (!strncmp(name, "split:", 6)) {
		omx__log("OMX_DRIVER=\"%s\": the split driver frontend is not available in this build",
			 name);
		return OMX_ABI_ENOSYS;
	}
	omx__log("OMX_DRIVER=\"%s\" is unknown (use \"direct\" or \"split:<path>\")", name);
	return OMX_ABI_EINVAL;
}

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
