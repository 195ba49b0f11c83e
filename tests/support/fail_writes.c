/* Fault injection for the tests (tests/tools/fault_injection_test.cpp), loaded with LD_PRELOAD into
 * a `lorakit` process: every output of lorakit is written with pwrite (src/io/atomic_file.cpp), so
 * failing pwrite once LORAKIT_FAIL_WRITES_AFTER bytes have been written makes a disk that fills up
 * part-way through a file; LORAKIT_FAIL_FSYNC=1 makes fsync report an I/O error;
 * LORAKIT_TRUNCATE_ON_WRITE=PATH truncates PATH (an input lorakit has mapped) to zero bytes at the
 * first pwrite, as another program rewriting the file would. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

static atomic_llong written;

static long long limit_bytes(void) {
  const char* s = getenv("LORAKIT_FAIL_WRITES_AFTER");
  return s ? atoll(s) : -1;
}

typedef ssize_t (*pwrite_fn)(int, const void*, size_t, off_t);

static atomic_int truncated;

static ssize_t limited(pwrite_fn real, int fd, const void* buf, size_t n, off_t off) {
  const char* victim = getenv("LORAKIT_TRUNCATE_ON_WRITE");
  if (victim && atomic_exchange(&truncated, 1) == 0) truncate(victim, 0);
  const long long limit = limit_bytes();
  if (limit >= 0) {
    const long long before = atomic_fetch_add(&written, (long long)n);
    if (before >= limit) {
      errno = ENOSPC;
      return -1;
    }
    if (before + (long long)n > limit) n = (size_t)(limit - before); /* a short write, then ENOSPC */
  }
  return real(fd, buf, n, off);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  static pwrite_fn real;
  if (!real) real = (pwrite_fn)dlsym(RTLD_NEXT, "pwrite");
  return limited(real, fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off_t off) {
  static pwrite_fn real;
  if (!real) real = (pwrite_fn)dlsym(RTLD_NEXT, "pwrite64");
  return limited(real, fd, buf, n, off);
}

int fsync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  const char* s = getenv("LORAKIT_FAIL_FSYNC");
  if (s && s[0] == '1') {
    errno = EIO;
    return -1;
  }
  return real(fd);
}
