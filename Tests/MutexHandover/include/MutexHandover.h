// Nothing to import: MutexHandover.c only defines, under Thread Sanitizer, the entry points
// the test executable links instead of libswiftSynchronization's (see there).
