// Under Thread Sanitizer only (compiled to nothing otherwise): lets the sanitizer see the
// hand-over of a contended `Synchronization.Mutex`.
//
// On Linux, `Mutex.withLock` takes and releases an uncontended lock with an atomic
// compare-and-exchange inlined into our (instrumented) code, which the sanitizer sees. A
// contended lock goes to `_MutexHandle._lockSlow` / `_unlockSlow` in libswiftSynchronization.so,
// which is not instrumented: it spins with plain `lock cmpxchg` and then waits in the kernel
// (FUTEX_LOCK_PI / FUTEX_UNLOCK_PI), where the kernel hands the lock from one thread to the next
// without the word ever passing through an atomic the sanitizer sees. So every contended hand-over
// was reported as a data race on the state the mutex guards (first seen in `DatabaseWorkers`:
// two web database threads, each inside `state.withLock`).
//
// The test executable defines those three entry points itself (the static link binds our
// modules' calls to these definitions rather than to the shared library's): each calls the
// library's own (found with dlsym RTLD_NEXT) and tells the sanitizer what it did, a release
// before unlocking and an acquire after locking, on the lock word's address, the same address
// the inlined fast path's atomics use. Nothing is suppressed: a state touched outside the lock is
// still reported. The Swift calling convention passes the handle in the context register
// (swiftself), which `swift_context` names.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer) && defined(__linux__)
#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>

void __tsan_acquire(void *address);
void __tsan_release(void *address);

#define LOCK_SLOW "$s15Synchronization12_MutexHandleV9_lockSlowyys6UInt32VF"
#define UNLOCK_SLOW "$s15Synchronization12_MutexHandleV11_unlockSlowyyF"
#define TRY_LOCK_SLOW "$s15Synchronization12_MutexHandleV12_tryLockSlowSbyF"

typedef __attribute__((swiftcall)) void (*LockSlow)(uint32_t, void *__attribute__((swift_context)));
typedef __attribute__((swiftcall)) void (*UnlockSlow)(void *__attribute__((swift_context)));
typedef __attribute__((swiftcall)) bool (*TryLockSlow)(void *__attribute__((swift_context)));

static void *lockSlow, *unlockSlow, *tryLockSlow;

/// The shared library's own entry point, looked up once (atomically: any thread may be first).
static void *library(void **cached, const char *name) {
    void *function = __atomic_load_n(cached, __ATOMIC_ACQUIRE);
    if (!function) {
        function = dlsym(RTLD_NEXT, name);
        __atomic_store_n(cached, function, __ATOMIC_RELEASE);
    }
    return function;
}

__attribute__((swiftcall)) void mutexLockSlow(uint32_t threadId, void *__attribute__((swift_context)) handle) __asm__(LOCK_SLOW);
__attribute__((swiftcall)) void mutexLockSlow(uint32_t threadId, void *__attribute__((swift_context)) handle) {
    ((LockSlow)library(&lockSlow, LOCK_SLOW))(threadId, handle);
    __tsan_acquire(handle);
}

__attribute__((swiftcall)) void mutexUnlockSlow(void *__attribute__((swift_context)) handle) __asm__(UNLOCK_SLOW);
__attribute__((swiftcall)) void mutexUnlockSlow(void *__attribute__((swift_context)) handle) {
    __tsan_release(handle);
    ((UnlockSlow)library(&unlockSlow, UNLOCK_SLOW))(handle);
}

__attribute__((swiftcall)) bool mutexTryLockSlow(void *__attribute__((swift_context)) handle) __asm__(TRY_LOCK_SLOW);
__attribute__((swiftcall)) bool mutexTryLockSlow(void *__attribute__((swift_context)) handle) {
    bool locked = ((TryLockSlow)library(&tryLockSlow, TRY_LOCK_SLOW))(handle);
    if (locked) __tsan_acquire(handle);
    return locked;
}
#endif
#endif
