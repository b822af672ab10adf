/* Build/test-only stand-in for bcryptprimitives.dll!ProcessPrng under wine. NEVER shipped.
 *
 * cryptography's Rust extension (_rust.pyd) imports ProcessPrng, which Windows 10+ has and
 * Wine 8 lacks. Without it the import fails, and PyInstaller still "succeeds" with a broken
 * bundle. This forwards to BCryptGenRandom with the system RNG (what ProcessPrng is on real
 * Windows) and aborts rather than ever return without random bytes.
 * scripts/build-windows compiles it into the wine prefix's system32 and checks that
 * PyInstaller did not copy it into the bundle.
 */
#include <windows.h>
#include <bcrypt.h>
#include <stdlib.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
            abort();
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
