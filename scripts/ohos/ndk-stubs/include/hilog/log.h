/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Stand-in for the HarmonyOS NDK's <hilog/log.h> (scripts/ohos/ndk-stubs/README.md): the part
 * the N-API module uses, written from the HiLog NDK reference
 * (https://gitcode.com/openharmony/docs/blob/master/en/application-dev/reference/apis-performance-analysis-kit/capi-log-h.md):
 * the log type, the levels and their values, and OH_LOG_Print.
 */
#ifndef QHM_STANDIN_HILOG_LOG_H
#define QHM_STANDIN_HILOG_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { LOG_APP = 0 } LogType;

typedef enum { LOG_DEBUG = 3, LOG_INFO = 4, LOG_WARN = 5, LOG_ERROR = 6, LOG_FATAL = 7 } LogLevel;

/* FMT takes the privacy flags {public} and {private} after '%'. */
int OH_LOG_Print(LogType type, LogLevel level, unsigned int domain, const char *tag, const char *fmt, ...);

#ifdef __cplusplus
}
#endif
#endif
