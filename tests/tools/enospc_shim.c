/* LD_PRELOAD shim that simulates a disk filling up, without root or a small filesystem.
 *
 *   SD35_TEST_ENOSPC_DIR=/abs/dir          files under this directory prefix are watched
 *   SD35_TEST_ENOSPC_AFTER_BYTES=N         after N bytes written to them, every further write
 *                                          to them fails with ENOSPC (a write crossing the limit
 *                                          is cut short, as a real full disk does)
 *
 *   SD35_TEST_SYNC_LOG=/abs/file           (independent of the above) every fsync, fdatasync and
 *                                          ftruncate is appended to this file as one line
 *                                          "<call> main|worker <fd's path>": which thread waits
 *                                          for the disk ("main" is the process's first thread)
 *
 * Covers write, pwrite, pwrite64, writev, pwritev, pwritev64 and fwrite (glibc's stdio calls its
 * internal write, which LD_PRELOAD cannot reach). The fd's path comes from /proc/self/fd. Never
 * preload it into a sanitizer build: ASan must come first in the link order. */
/* NOLINTNEXTLINE(bugprone-reserved-identifier): the feature-test macro that exposes RTLD_NEXT */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long long written_so_far;

static const char* watched_dir(void) {
  const char* d = getenv("SD35_TEST_ENOSPC_DIR");
  return d && *d ? d : NULL;
}

static int is_watched(int fd) {
  const char* dir = watched_dir();
  if (!dir || fd < 0) return 0;
  char link[64], target[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, target, sizeof target - 1);
  if (n <= 0) return 0;
  target[n] = '\0';
  size_t len = strlen(dir);
  while (len > 1 && dir[len - 1] == '/') --len;
  return strncmp(target, dir, len) == 0 && (target[len] == '/' || target[len] == '\0');
}

/* How many of `want` bytes may still be written to a watched file; 0 means ENOSPC. */
static size_t allowance(int fd, size_t want) {
  if (!is_watched(fd)) return want;
  const char* after = getenv("SD35_TEST_ENOSPC_AFTER_BYTES");
  unsigned long long limit = after ? strtoull(after, NULL, 10) : 0;
  pthread_mutex_lock(&mu);
  unsigned long long left = written_so_far >= limit ? 0 : limit - written_so_far;
  size_t grant = want < left ? want : (size_t)left;
  written_so_far += grant;
  pthread_mutex_unlock(&mu);
  return grant;
}

typedef ssize_t (*write_fn)(int, const void*, size_t);
typedef ssize_t (*pwrite_fn)(int, const void*, size_t, off_t);
typedef ssize_t (*writev_fn)(int, const struct iovec*, int);
typedef ssize_t (*pwritev_fn)(int, const struct iovec*, int, off_t);
typedef size_t (*fwrite_fn)(const void*, size_t, size_t, FILE*);

/* The next definition of `name` (libc's), looked up once. */
#define REAL(name, type)   \
  static type real_##name; \
  if (!real_##name) real_##name = (type)dlsym(RTLD_NEXT, #name)

ssize_t write(int fd, const void* buf, size_t n) {
  REAL(write, write_fn);
  size_t ok = n ? allowance(fd, n) : 0;
  if (n && ok == 0) {
    errno = ENOSPC;
    return -1;
  }
  return real_write(fd, buf, ok);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  REAL(pwrite, pwrite_fn);
  size_t ok = n ? allowance(fd, n) : 0;
  if (n && ok == 0) {
    errno = ENOSPC;
    return -1;
  }
  return real_pwrite(fd, buf, ok, off);
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off_t off) {
  return pwrite(fd, buf, n, off);
}

static size_t iov_total(const struct iovec* iov, int cnt) {
  size_t t = 0;
  for (int i = 0; i < cnt; ++i) t += iov[i].iov_len;
  return t;
}

/* A vector write crossing the limit is refused whole (simpler than cutting an iovec). */
ssize_t writev(int fd, const struct iovec* iov, int cnt) {
  REAL(writev, writev_fn);
  size_t n = iov_total(iov, cnt);
  if (n && allowance(fd, n) < n) {
    errno = ENOSPC;
    return -1;
  }
  return real_writev(fd, iov, cnt);
}

ssize_t pwritev(int fd, const struct iovec* iov, int cnt, off_t off) {
  REAL(pwritev, pwritev_fn);
  size_t n = iov_total(iov, cnt);
  if (n && allowance(fd, n) < n) {
    errno = ENOSPC;
    return -1;
  }
  return real_pwritev(fd, iov, cnt, off);
}

ssize_t pwritev64(int fd, const struct iovec* iov, int cnt, off_t off) {
  return pwritev(fd, iov, cnt, off);
}

size_t fwrite(const void* buf, size_t size, size_t nmemb, FILE* f) {
  REAL(fwrite, fwrite_fn);
  size_t n = size * nmemb;
  if (n && f && allowance(fileno(f), n) < n) {
    errno = ENOSPC;
    return 0;
  }
  return real_fwrite(buf, size, nmemb, f);
}

typedef int (*fsync_fn)(int);
typedef int (*ftruncate_fn)(int, off_t);

static void log_sync(const char* call, int fd) {
  const char* log = getenv("SD35_TEST_SYNC_LOG");
  if (!log || !*log) return;
  char link[64], target[PATH_MAX] = "?", line[PATH_MAX + 64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, target, sizeof target - 1);
  if (n > 0) target[n] = '\0';
  int main_thread = (pid_t)syscall(SYS_gettid) == getpid();
  int len =
      snprintf(line, sizeof line, "%s %s %s\n", call, main_thread ? "main" : "worker", target);
  REAL(write, write_fn);
  pthread_mutex_lock(&mu);
  int out = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out >= 0) {
    real_write(out, line, (size_t)len);
    close(out);
  }
  pthread_mutex_unlock(&mu);
}

int fsync(int fd) {
  REAL(fsync, fsync_fn);
  log_sync("fsync", fd);
  return real_fsync(fd);
}

int fdatasync(int fd) {
  REAL(fdatasync, fsync_fn);
  log_sync("fdatasync", fd);
  return real_fdatasync(fd);
}

int ftruncate(int fd, off_t len) {
  REAL(ftruncate, ftruncate_fn);
  log_sync("ftruncate", fd);
  return real_ftruncate(fd, len);
}

int ftruncate64(int fd, off_t len) {
  return ftruncate(fd, len);
}
