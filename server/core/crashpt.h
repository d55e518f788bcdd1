/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * crashpt: named kill points for the crash consistency test
 * (tests/integration/test_crash_campaign.py). QHM_TEST_KILL_POINT=NAME:N, read
 * once at start, makes the daemon SIGKILL itself the Nth time it reaches the
 * point NAME. Unset (always, outside that test) it does nothing. Core thread.
 */
#ifndef QHM_CRASHPT_H
#define QHM_CRASHPT_H

/* Reads QHM_TEST_KILL_POINT; called once before the core loop starts. */
void crashpt_init(void);
/* A step boundary of a multi-step operation ("create:after_mkdir"). */
void crashpt(const char *name);

#endif
