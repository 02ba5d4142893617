#include <stdio.h>
#include <string.h>

#include "omx_log.h"

void omx_log_vline(const char *fmt, va_list ap)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "Open-MX: ");

	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	strcat(line, "\n");
	fputs(line, stderr);
}
