/* Build/test-only stand-in for Windows' system icuuc.dll under wine. NEVER shipped.
 *
 * Qt6Core.dll (Qt >= 6.7) imports these 20 ICU converter functions from the system ICU that
 * Windows 10 1703+ provides (forwarded to icu.dll from 1903 on). Wine 8 has no icuuc.dll, so
 * without this file QtCore cannot load at all under wine. Every converter "fails to open",
 * so Qt falls back to its own UTF-8/UTF-16/Latin-1 codecs, which is all the app uses.
 * scripts/build-windows compiles this into the wine prefix's system32 and then checks that
 * PyInstaller did not copy it into the bundle.
 */
#include <stddef.h>
#include <stdint.h>

#define EXPORT __declspec(dllexport)
typedef int32_t UErrorCode;
typedef uint16_t UChar;
typedef void UConverter;
enum { U_ZERO_ERROR = 0, U_FILE_ACCESS_ERROR = 4, U_UNSUPPORTED_ERROR = 16 };

static int fail(UErrorCode *err) {
    if (err && *err <= U_ZERO_ERROR) *err = U_UNSUPPORTED_ERROR;
    return 0;
}

EXPORT UConverter *ucnv_open(const char *name, UErrorCode *err) { (void)name; if (err) *err = U_FILE_ACCESS_ERROR; return NULL; }
EXPORT void ucnv_close(UConverter *c) { (void)c; }
EXPORT void ucnv_reset(UConverter *c) { (void)c; }
EXPORT int8_t ucnv_getMaxCharSize(const UConverter *c) { (void)c; return 1; }
EXPORT const char *ucnv_getName(const UConverter *c, UErrorCode *err) { (void)c; fail(err); return NULL; }
EXPORT void ucnv_getToUCallBack(const UConverter *c, void **action, const void **ctx) { (void)c; if (action) *action = NULL; if (ctx) *ctx = NULL; }
EXPORT void ucnv_getFromUCallBack(const UConverter *c, void **action, const void **ctx) { (void)c; if (action) *action = NULL; if (ctx) *ctx = NULL; }
EXPORT void ucnv_setToUCallBack(UConverter *c, void *a, const void *ctx, void **oa, const void **octx, UErrorCode *err) { (void)c; (void)a; (void)ctx; (void)oa; (void)octx; fail(err); }
EXPORT void ucnv_setFromUCallBack(UConverter *c, void *a, const void *ctx, void **oa, const void **octx, UErrorCode *err) { (void)c; (void)a; (void)ctx; (void)oa; (void)octx; fail(err); }
EXPORT void ucnv_cbToUWriteUChars(void *args, const UChar *s, int32_t n, int32_t off, UErrorCode *err) { (void)args; (void)s; (void)n; (void)off; fail(err); }
EXPORT void ucnv_cbFromUWriteUChars(void *args, const UChar **s, const UChar *end, int32_t off, UErrorCode *err) { (void)args; (void)s; (void)end; (void)off; fail(err); }
EXPORT void ucnv_toUnicode(UConverter *c, UChar **t, const UChar *te, const char **s, const char *se, int32_t *o, int8_t f, UErrorCode *err) { (void)c; (void)t; (void)te; (void)s; (void)se; (void)o; (void)f; fail(err); }
EXPORT void ucnv_fromUnicode(UConverter *c, char **t, const char *te, const UChar **s, const UChar *se, int32_t *o, int8_t f, UErrorCode *err) { (void)c; (void)t; (void)te; (void)s; (void)se; (void)o; (void)f; fail(err); }
EXPORT int32_t ucnv_toUCountPending(const UConverter *c, UErrorCode *err) { (void)c; return fail(err); }
EXPORT int32_t ucnv_fromUCountPending(const UConverter *c, UErrorCode *err) { (void)c; return fail(err); }
EXPORT const char *ucnv_getStandardName(const char *name, const char *std, UErrorCode *err) { (void)name; (void)std; fail(err); return NULL; }
EXPORT const char *ucnv_getAvailableName(int32_t n) { (void)n; return NULL; }
EXPORT int32_t ucnv_countAvailable(void) { return 0; }
EXPORT void UCNV_FROM_U_CALLBACK_SUBSTITUTE(const void *ctx, void *args, const UChar *u, int32_t n, int32_t cp, int reason, UErrorCode *err) { (void)ctx; (void)args; (void)u; (void)n; (void)cp; (void)reason; fail(err); }
EXPORT void UCNV_TO_U_CALLBACK_SUBSTITUTE(const void *ctx, void *args, const char *b, int32_t n, int reason, UErrorCode *err) { (void)ctx; (void)args; (void)b; (void)n; (void)reason; fail(err); }
