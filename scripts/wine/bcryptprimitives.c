/*
 * Stand-in for bcryptprimitives.dll, which Wine 8 lacks but Bun's Windows
 * binary imports: ProcessPrng, its source of random bytes (Windows 10+ API).
 * Forwards to RtlGenRandom (advapi32!SystemFunction036), which Wine has.
 * Built by scripts/wine-setup.sh; only ever used inside the test Wine prefix.
 */
#include <windows.h>

/* RtlGenRandom: declared by hand because ntsecapi.h maps it through a macro. */
__declspec(dllimport) BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
  /* RtlGenRandom takes a ULONG length; feed large requests in chunks. */
  while (len > 0) {
    ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
    if (!SystemFunction036(data, n)) return FALSE;
    data += n;
    len -= n;
  }
  return TRUE;
}
