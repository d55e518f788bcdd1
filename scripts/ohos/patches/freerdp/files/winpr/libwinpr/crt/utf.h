/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * utf.h: the UTF-8 <-> UTF-16 conversion WinPR's unicode.c calls when it is built without ICU.
 * Debian's FreeRDP source (+dfsg) leaves out WinPR's own file for this (its licence); Debian
 * builds with ICU, which the HarmonyOS build does not carry (its data alone is ~30 MB). Written
 * for qemu-hmos (scripts/ohos/deps.sh copies it in), to the interface unicode.c uses.
 */
#ifndef QHM_WINPR_UTF_H
#define QHM_WINPR_UTF_H

#include <winpr/wtypes.h>

typedef enum {
  conversionOK,    /* all of the source converted */
  sourceExhausted, /* the source ends inside a sequence */
  targetExhausted, /* the target is full; the source stops at the first character not written */
  sourceIllegal    /* a malformed sequence or an unpaired surrogate */
} ConversionResult;

typedef enum { strictConversion = 0, lenientConversion } ConversionFlags;

/*
 * Both convert [*sourceStart, sourceEnd) and advance *sourceStart and *targetStart past what
 * they converted. A NULL *targetStart counts instead of writing (the count is how far
 * *targetStart moved); a NULL targetEnd sets no limit. lenientConversion writes U+FFFD for a
 * malformed sequence and goes on.
 */
ConversionResult ConvertUTF8toUTF16(const BYTE **sourceStart, const BYTE *sourceEnd, WCHAR **targetStart,
                                    WCHAR *targetEnd, ConversionFlags flags);
ConversionResult ConvertUTF16toUTF8(const WCHAR **sourceStart, const WCHAR *sourceEnd, BYTE **targetStart,
                                    BYTE *targetEnd, ConversionFlags flags);

#endif
