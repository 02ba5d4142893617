/*
 * test_split_cases.h - what test_split_hardening.c and test_split_hostile.c
 * share: the backend under test, the raw frontend's setup and the verdicts.
 */
#ifndef TEST_SPLIT_CASES_H
#define TEST_SPLIT_CASES_H

#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/wait.h>

#include "test_split_raw.h"

#define SX_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)
#define SX_BUF_SIZE (1u << 20)
#define SX_SELF_REF 2                 /* SELF grant of sx_buf, read-write */
#define SX_RAW_INDEX_FIRST 16         /* raw frontends' endpoints: 16..31 */
#define SX_RAW_INDEXES 16

extern struct sx_backend sx_be;
extern uint8_t sx_buf[SX_BUF_SIZE];
extern struct sx_good *sx_cur_good;   /* the pair running during the case */

static inline int eventfd_cloexec(void)
{
	return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

/* Connect a raw frontend (grant SX_SELF_REF set) and, with with_ep, open an
 * endpoint; CHECKs both.  0 or the failing step's code. */
int sx_setup(struct sx_front *f, int with_ep);
/* CHECK a refusal; a disconnected frontend is set up again. */
int sx_refuse(struct sx_front *f, const char *what, int ret);

/* test_split_hostile.c */
void sx_posted_errors(void);
void sx_ring_lies(void);
void sx_fuzz(void);
void sx_flood(void);

#endif /* TEST_SPLIT_CASES_H */
