/* bcryptprimitives.dll for Wine 8, which has none: Rust >= 1.78's standard library takes its randomness from
   bcryptprimitives!ProcessPrng, so pydantic-core, jiter, rpds-py and cryptography fail to load without it.
   This stand-in fills the buffer from advapi32's RtlGenRandom (SystemFunction036). Test lane only. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) {
            return FALSE;
        }
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
