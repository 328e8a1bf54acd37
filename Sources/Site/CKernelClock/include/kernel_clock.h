#ifndef POCARE_KERNEL_CLOCK_H
#define POCARE_KERNEL_CLOCK_H

/* The kernel's view of the system clock's synchronisation (adjtimex(2) with no changes),
   for the clock evidence in batch records. sys/timex.h is not in Swift's Glibc module. */
typedef struct {
    /* adjtimex's return value: 0 TIME_OK ... 5 TIME_ERROR (not synchronised); -1 on failure. */
    int state;
    /* STA_UNSYNC is set: no time source is disciplining the clock. */
    int unsynchronised;
    /* Estimated and maximum error, microseconds. */
    long estimated_error_us;
    long maximum_error_us;
} pocare_kernel_clock;

pocare_kernel_clock pocare_read_kernel_clock(void);

#endif
