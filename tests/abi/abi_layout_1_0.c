/* The frozen 1.0 header still lays out what 1.0 released
 * (abi_layout_1_0.inc); abi_layout_test.cpp checks the current header
 * against the same table. Compiled against tests/abi/frozen/1.0. */
#include <stddef.h>
#include <switchboard/plugin.h>

#if defined(__LP64__)
#define SB_FIELD(type, field, offset) _Static_assert(offsetof(type, field) == (offset), #type "." #field " moved");
#define SB_SIZE(type, size) _Static_assert(sizeof(type) == (size), #type " changed size");
#define SB_VALUE(name, value) _Static_assert((name) == (value), #name " changed");
#define SB_STRING(name, value) /* strings are compared in abi_layout_test.cpp */
#include "abi_layout_1_0.inc"
#endif

_Static_assert(SB_ABI_VERSION_MAJOR == 1 && SB_ABI_VERSION_MINOR == 0, "the frozen header is ABI 1.0");

/* Something to link: the object exists only for its assertions. */
int sb_abi_layout_1_0_checked(void) { return SB_ABI_VERSION_MINOR; }
