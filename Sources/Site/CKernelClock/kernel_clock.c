#include <sys/timex.h>
#include <string.h>
#include "kernel_clock.h"

pocare_kernel_clock pocare_read_kernel_clock(void) {
    struct timex t;
    memset(&t, 0, sizeof t);  /* modes 0: read only */
    pocare_kernel_clock result;
    result.state = adjtimex(&t);
    result.unsynchronised = (t.status & STA_UNSYNC) != 0;
    result.estimated_error_us = t.esterror;
    result.maximum_error_us = t.maxerror;
    return result;
}
