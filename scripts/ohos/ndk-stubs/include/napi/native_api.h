/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Stand-in for the HarmonyOS NDK's <napi/native_api.h> (scripts/ohos/ndk-stubs/README.md): its
 * Node-API is Node.js's C API (OpenHarmony keeps Node's headers, js_native_api.h and node_api.h,
 * and adds its own calls, which nothing here uses), so Node's headers, copied beside this one
 * by scripts/ohos/build.sh from Debian's nodejs, declare what the module calls. Whether a call is
 * one OpenHarmony exports is checked at link time against libace_napi.z.symbols.
 */
#ifndef QHM_STANDIN_NAPI_NATIVE_API_H
#define QHM_STANDIN_NAPI_NATIVE_API_H

#ifndef NAPI_VERSION
#define NAPI_VERSION 8 /* what OpenHarmony's Node-API offers */
#endif
#include "../node_api.h"

#endif
