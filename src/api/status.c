/*
 * status.c - version and status strings of the public API.
 */
#include "sembed.h"

const char *sembed_version(void) { return SEMBED_VERSION_STRING; }

const char *sembed_strerror(sembed_status status) {
    static const char *const names[] = {
#define SEMBED_STATUS_STR_(name, str) str,
        SEMBED_STATUS_MAP(SEMBED_STATUS_STR_)
#undef SEMBED_STATUS_STR_
    };
    if ((unsigned)status >= sizeof names / sizeof names[0])
        return "unknown status";
    return names[status];
}
