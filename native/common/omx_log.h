/*
 * omx_log.h - the "Open-MX: ..." lines the library and the split frontend
 * print on stderr.
 */
#ifndef OMX_LOG_H
#define OMX_LOG_H

#include <stdarg.h>

/* One line, written at once so that lines of several threads do not interleave. */
void omx_log_vline(const char *fmt, va_list ap);

#endif /* OMX_LOG_H */
