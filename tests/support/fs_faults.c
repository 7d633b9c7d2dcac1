/* An LD_PRELOAD shim that makes file-system faults real for an unmodified agendad: a full disk
 * (ENOSPC) or a read-only file system (EROFS) under one directory, switched on and off while the
 * process runs. Tests run as root in CI, where chmod cannot take write access away; this can.
 *
 *   AGENDAD_FS_FAULTS_DIR=/abs/state      only paths under this directory are affected
 *   AGENDAD_FS_FAULTS_CONTROL=/abs/file   while this file exists, its content is the fault:
 *       enospc  every write to a file under the directory fails with ENOSPC: write, pwrite,
 *               pwrite64, writev, pwritev(2), fallocate, posix_fallocate, a growing ftruncate,
 *               fsync and fdatasync. Opening, reading, shrinking and deleting still work, as on
 *               a real full disk.
 *       erofs   as enospc but with EROFS, and besides: opening for writing or creating, mkdir,
 *               unlink, rmdir, rename, link and truncate under the directory fail with EROFS,
 *               and access(W_OK) says so.
 *
 * Which calls matter: Debian 12's libsqlite3 (3.40.1) imports open64, write, pwrite64,
 * ftruncate64, fdatasync, unlink, mkdir, rmdir, fchmod and fchown (and no fallocate: it is built
 * without HAVE_POSIX_FALLOCATE); it writes pages, WAL frames and the -shm's size with pwrite64,
 * syncs with fdatasync, resets the WAL with ftruncate64 and deletes the WAL with unlink. agendad
 * itself uses open (O_CREAT|O_EXCL for a private store file), mkdir (directly and through
 * std::filesystem), rename, unlink, write and fsync. The other calls are covered so that a
 * library built differently cannot slip past. fsync/fdatasync fail too: on a real full disk a
 * write may be accepted into the page cache and fail at fsync (thin provisioning, NFS, delayed
 * allocation), and that is the harder case for a journal: the commit is unknown, not refused.
 *
 * Where an fd points is read from /proc/self/fd with readlinkat, so that the outbox and the
 * logs are never affected. Nothing here allocates or locks: state is the environment, read
 * once, and the real functions, resolved once with dlsym(RTLD_NEXT); the control file is read
 * with raw system calls on every affected call, so that a test can switch a fault on and off
 * at any moment. With the clang AddressSanitizer build the child needs
 * ASAN_OPTIONS=verify_asan_link_order=0 (the runtime wants to be first).
 */
#define _GNU_SOURCE
/* The wrappers below are the definitions; fortified inline versions would clash with them. */
#undef _FORTIFY_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define FS_FAULTS_PATH_MAX 4096

enum fault { fault_none = 0, fault_enospc, fault_erofs };

/* The configuration, read once (lazily, by whichever thread gets here first: the values are
 * the same for all of them, so the race is benign). */
static char faults_dir[FS_FAULTS_PATH_MAX];
static size_t faults_dir_len;
static char control_file[FS_FAULTS_PATH_MAX];
static int configured; /* 0 not yet, 1 active, -1 inactive */

static void configure(void) {
    if (__atomic_load_n(&configured, __ATOMIC_ACQUIRE) != 0) return;
    const char* dir = getenv("AGENDAD_FS_FAULTS_DIR");
    const char* control = getenv("AGENDAD_FS_FAULTS_CONTROL");
    int state = -1;
    if (dir && control && dir[0] == '/' && control[0] == '/' && strlen(dir) < sizeof faults_dir &&
        strlen(control) < sizeof control_file) {
        size_t n = strlen(dir);
        while (n > 1 && dir[n - 1] == '/') --n; /* "/x/state/" is "/x/state" */
        memcpy(faults_dir, dir, n);
        faults_dir[n] = '\0';
        faults_dir_len = n;
        strcpy(control_file, control);
        state = 1;
    }
    __atomic_store_n(&configured, state, __ATOMIC_RELEASE);
}

/* The fault now in force: the control file's first word. Raw system calls, so that nothing of
 * this goes through the functions wrapped here (or a sanitizer's interceptors). */
static enum fault current_fault(void) {
    configure();
    if (__atomic_load_n(&configured, __ATOMIC_ACQUIRE) != 1) return fault_none;
    const int fd = (int)syscall(SYS_openat, AT_FDCWD, control_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fault_none;
    char word[16];
    const long n = syscall(SYS_read, fd, word, sizeof word - 1);
    syscall(SYS_close, fd);
    if (n <= 0) return fault_none;
    word[n] = '\0';
    if (strncmp(word, "enospc", 6) == 0) return fault_enospc;
    if (strncmp(word, "erofs", 5) == 0) return fault_erofs;
    static const char unknown[] =
        "fs_faults: the control file says neither enospc nor erofs; no fault injected\n";
    syscall(SYS_write, 2, unknown, sizeof unknown - 1);
    return fault_none;
}

/* Whether the absolute `path` is the directory or lies under it (lexically). */
static int under_dir(const char* path) {
    if (strncmp(path, faults_dir, faults_dir_len) != 0) return 0;
    return path[faults_dir_len] == '\0' || path[faults_dir_len] == '/' ||
           (faults_dir_len == 1 && faults_dir[0] == '/');
}

/* Where `dirfd` points, in `out`: 0 on success. */
static int fd_path(int fd, char* out, size_t size) {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    const long n = syscall(SYS_readlinkat, AT_FDCWD, link, out, size - 1);
    if (n <= 0) return -1;
    out[n] = '\0';
    return 0;
}

static int fd_under_dir(int fd) {
    char path[FS_FAULTS_PATH_MAX];
    return fd_path(fd, path, sizeof path) == 0 && under_dir(path);
}

/* Whether `path`, relative to `dirfd` (AT_FDCWD: the working directory), is under the
 * directory. */
static int path_under_dir(int dirfd, const char* path) {
    if (!path) return 0;
    if (path[0] == '/') return under_dir(path);
    char base[FS_FAULTS_PATH_MAX];
    if (dirfd == AT_FDCWD) {
        if (syscall(SYS_getcwd, base, sizeof base) <= 0) return 0;
    } else if (fd_path(dirfd, base, sizeof base) != 0) {
        return 0;
    }
    char full[FS_FAULTS_PATH_MAX];
    const int n = snprintf(full, sizeof full, "%s/%s", base, path);
    return n > 0 && (size_t)n < sizeof full && under_dir(full);
}

static int exists_at(int dirfd, const char* path) {
    struct stat st;
    return syscall(SYS_newfstatat, dirfd, path, &st, 0) == 0;
}

/* The errno of the fault now in force for a write to `fd`, or 0. */
static int write_fault(int fd) {
    const enum fault f = current_fault();
    if (f == fault_none || !fd_under_dir(fd)) return 0;
    return f == fault_enospc ? ENOSPC : EROFS;
}

/* The errno for changing the name space at `path` (create, delete, rename), or 0. */
static int namespace_fault(int dirfd, const char* path) {
    return current_fault() == fault_erofs && path_under_dir(dirfd, path) ? EROFS : 0;
}

/* The errno for opening `path` with `flags`, as a read-only file system answers, or 0. */
static int open_fault(int dirfd, const char* path, int flags) {
    if (current_fault() != fault_erofs || !path_under_dir(dirfd, path)) return 0;
    const int exists = exists_at(dirfd, path);
    /* Linux looks the name up first: an existing file with O_EXCL is EEXIST, not EROFS. */
    if ((flags & O_CREAT) && (flags & O_EXCL) && exists) return 0;
    if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)) return EROFS;
    if ((flags & O_CREAT) && !exists) return EROFS;
    return 0;
}

/* The _FORTIFY_SOURCE entry points, declared by <fcntl.h> only in fortified builds. */
int __open_2(const char* path, int flags);
int __open64_2(const char* path, int flags);
int __openat_2(int dirfd, const char* path, int flags);
int __openat64_2(int dirfd, const char* path, int flags);

/* `real`: the next definition of `name` (libc's), resolved once; a concurrent first call
 * resolves the same pointer. The type is the one the system headers declare. */
#define REAL(name)                                                            \
    static __typeof__(&name) real_##name;                                     \
    __typeof__(&name) real = __atomic_load_n(&real_##name, __ATOMIC_ACQUIRE); \
    if (!real) {                                                              \
        real = (__typeof__(&name))dlsym(RTLD_NEXT, #name);                    \
        __atomic_store_n(&real_##name, real, __ATOMIC_RELEASE);               \
    }

#define FAIL_WITH(e)        \
    do {                    \
        const int e_ = (e); \
        if (e_) {           \
            errno = e_;     \
            return -1;      \
        }                   \
    } while (0)

static int wants_mode(int flags) {
    return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
}

/* --- opening ----------------------------------------------------------------------------- */

#define DEFINE_OPEN(name)                             \
    int name(const char* path, int flags, ...) {      \
        REAL(name)                                    \
        mode_t mode = 0;                              \
        if (wants_mode(flags)) {                      \
            va_list ap;                               \
            va_start(ap, flags);                      \
            mode = (mode_t)va_arg(ap, unsigned int);  \
            va_end(ap);                               \
        }                                             \
        FAIL_WITH(open_fault(AT_FDCWD, path, flags)); \
        return real(path, flags, mode);               \
    }
DEFINE_OPEN(open)
DEFINE_OPEN(open64)

#define DEFINE_OPENAT(name)                                 \
    int name(int dirfd, const char* path, int flags, ...) { \
        REAL(name)                                          \
        mode_t mode = 0;                                    \
        if (wants_mode(flags)) {                            \
            va_list ap;                                     \
            va_start(ap, flags);                            \
            mode = (mode_t)va_arg(ap, unsigned int);        \
            va_end(ap);                                     \
        }                                                   \
        FAIL_WITH(open_fault(dirfd, path, flags));          \
        return real(dirfd, path, flags, mode);              \
    }
DEFINE_OPENAT(openat)
DEFINE_OPENAT(openat64)

/* The _FORTIFY_SOURCE entry points (never with O_CREAT: those go to open/open64). */
#define DEFINE_OPEN_2(name)                           \
    int name(const char* path, int flags) {           \
        REAL(name)                                    \
        FAIL_WITH(open_fault(AT_FDCWD, path, flags)); \
        return real(path, flags);                     \
    }
DEFINE_OPEN_2(__open_2)
DEFINE_OPEN_2(__open64_2)

#define DEFINE_OPENAT_2(name)                          \
    int name(int dirfd, const char* path, int flags) { \
        REAL(name)                                     \
        FAIL_WITH(open_fault(dirfd, path, flags));     \
        return real(dirfd, path, flags);               \
    }
DEFINE_OPENAT_2(__openat_2)
DEFINE_OPENAT_2(__openat64_2)

#define DEFINE_CREAT(name)                                                   \
    int name(const char* path, mode_t mode) {                                \
        REAL(name)                                                           \
        FAIL_WITH(open_fault(AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC)); \
        return real(path, mode);                                             \
    }
DEFINE_CREAT(creat)
DEFINE_CREAT(creat64)

/* std::ofstream and C stdio: any mode but "r" writes. */
#define DEFINE_FOPEN(name)                                                                        \
    FILE* name(const char* path, const char* mode) {                                              \
        REAL(name)                                                                                \
        const int writes = mode && (strchr(mode, 'w') || strchr(mode, 'a') || strchr(mode, '+')); \
        const int e = open_fault(AT_FDCWD, path, writes ? O_RDWR | O_CREAT : O_RDONLY);           \
        if (e) {                                                                                  \
            errno = e;                                                                            \
            return NULL;                                                                          \
        }                                                                                         \
        return real(path, mode);                                                                  \
    }
DEFINE_FOPEN(fopen)
DEFINE_FOPEN(fopen64)

/* --- writing --------------------------------------------------------------------------- */

ssize_t write(int fd, const void* buf, size_t count) {
    REAL(write)
    FAIL_WITH(write_fault(fd));
    return real(fd, buf, count);
}

ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset) {
    REAL(pwrite)
    FAIL_WITH(write_fault(fd));
    return real(fd, buf, count, offset);
}

ssize_t pwrite64(int fd, const void* buf, size_t count, off64_t offset) {
    REAL(pwrite64)
    FAIL_WITH(write_fault(fd));
    return real(fd, buf, count, offset);
}

ssize_t writev(int fd, const struct iovec* iov, int n) {
    REAL(writev)
    FAIL_WITH(write_fault(fd));
    return real(fd, iov, n);
}

ssize_t pwritev(int fd, const struct iovec* iov, int n, off_t offset) {
    REAL(pwritev)
    FAIL_WITH(write_fault(fd));
    return real(fd, iov, n, offset);
}

ssize_t pwritev64(int fd, const struct iovec* iov, int n, off64_t offset) {
    REAL(pwritev64)
    FAIL_WITH(write_fault(fd));
    return real(fd, iov, n, offset);
}

ssize_t pwritev2(int fd, const struct iovec* iov, int n, off_t offset, int flags) {
    REAL(pwritev2)
    FAIL_WITH(write_fault(fd));
    return real(fd, iov, n, offset, flags);
}

int fallocate(int fd, int mode, off_t offset, off_t len) {
    REAL(fallocate)
    FAIL_WITH(write_fault(fd));
    return real(fd, mode, offset, len);
}

int fallocate64(int fd, int mode, off64_t offset, off64_t len) {
    REAL(fallocate64)
    FAIL_WITH(write_fault(fd));
    return real(fd, mode, offset, len);
}

/* posix_fallocate returns the error instead of setting errno. */
int posix_fallocate(int fd, off_t offset, off_t len) {
    REAL(posix_fallocate)
    const int e = write_fault(fd);
    return e ? e : real(fd, offset, len);
}

int posix_fallocate64(int fd, off64_t offset, off64_t len) {
    REAL(posix_fallocate64)
    const int e = write_fault(fd);
    return e ? e : real(fd, offset, len);
}

/* A full disk still lets a file shrink; a read-only one does not. */
static int truncate_fault(int fd, off64_t length) {
    const enum fault f = current_fault();
    if (f == fault_none || !fd_under_dir(fd)) return 0;
    if (f == fault_erofs) return EROFS;
    struct stat st;
    if (syscall(SYS_fstat, fd, &st) != 0) return 0;
    return length > (off64_t)st.st_size ? ENOSPC : 0;
}

int ftruncate(int fd, off_t length) {
    REAL(ftruncate)
    FAIL_WITH(truncate_fault(fd, length));
    return real(fd, length);
}

int ftruncate64(int fd, off64_t length) {
    REAL(ftruncate64)
    FAIL_WITH(truncate_fault(fd, length));
    return real(fd, length);
}

int fsync(int fd) {
    REAL(fsync)
    FAIL_WITH(write_fault(fd));
    return real(fd);
}

int fdatasync(int fd) {
    REAL(fdatasync)
    FAIL_WITH(write_fault(fd));
    return real(fd);
}

/* --- the name space (read-only only) ---------------------------------------------------------- */

int truncate(const char* path, off_t length) {
    REAL(truncate)
    FAIL_WITH(namespace_fault(AT_FDCWD, path));
    return real(path, length);
}

int truncate64(const char* path, off64_t length) {
    REAL(truncate64)
    FAIL_WITH(namespace_fault(AT_FDCWD, path));
    return real(path, length);
}

/* mkdir of a directory that exists answers EEXIST on a read-only file system too. */
int mkdir(const char* path, mode_t mode) {
    REAL(mkdir)
    if (!exists_at(AT_FDCWD, path)) FAIL_WITH(namespace_fault(AT_FDCWD, path));
    return real(path, mode);
}

int mkdirat(int dirfd, const char* path, mode_t mode) {
    REAL(mkdirat)
    if (!exists_at(dirfd, path)) FAIL_WITH(namespace_fault(dirfd, path));
    return real(dirfd, path, mode);
}

int unlink(const char* path) {
    REAL(unlink)
    FAIL_WITH(namespace_fault(AT_FDCWD, path));
    return real(path);
}

int unlinkat(int dirfd, const char* path, int flags) {
    REAL(unlinkat)
    FAIL_WITH(namespace_fault(dirfd, path));
    return real(dirfd, path, flags);
}

int rmdir(const char* path) {
    REAL(rmdir)
    FAIL_WITH(namespace_fault(AT_FDCWD, path));
    return real(path);
}

int remove(const char* path) {
    REAL(remove)
    FAIL_WITH(namespace_fault(AT_FDCWD, path));
    return real(path);
}

/* A new name for a file under the directory. */
int link(const char* from, const char* to) {
    REAL(link)
    FAIL_WITH(namespace_fault(AT_FDCWD, to));
    return real(from, to);
}

int linkat(int fromfd, const char* from, int tofd, const char* to, int flags) {
    REAL(linkat)
    FAIL_WITH(namespace_fault(tofd, to));
    return real(fromfd, from, tofd, to, flags);
}

/* Asking whether a file could be written: a read-only file system says no. */
static int access_fault(int dirfd, const char* path, int mode) {
    return (mode & W_OK) && current_fault() == fault_erofs && path_under_dir(dirfd, path) ? EROFS
                                                                                          : 0;
}

int access(const char* path, int mode) {
    REAL(access)
    FAIL_WITH(access_fault(AT_FDCWD, path, mode));
    return real(path, mode);
}

int faccessat(int dirfd, const char* path, int mode, int flags) {
    REAL(faccessat)
    FAIL_WITH(access_fault(dirfd, path, mode));
    return real(dirfd, path, mode, flags);
}

int euidaccess(const char* path, int mode) {
    REAL(euidaccess)
    FAIL_WITH(access_fault(AT_FDCWD, path, mode));
    return real(path, mode);
}

/* A rename touches both names' directories. */
int rename(const char* from, const char* to) {
    REAL(rename)
    FAIL_WITH(namespace_fault(AT_FDCWD, from));
    FAIL_WITH(namespace_fault(AT_FDCWD, to));
    return real(from, to);
}

int renameat(int fromfd, const char* from, int tofd, const char* to) {
    REAL(renameat)
    FAIL_WITH(namespace_fault(fromfd, from));
    FAIL_WITH(namespace_fault(tofd, to));
    return real(fromfd, from, tofd, to);
}

int renameat2(int fromfd, const char* from, int tofd, const char* to, unsigned int flags) {
    REAL(renameat2)
    FAIL_WITH(namespace_fault(fromfd, from));
    FAIL_WITH(namespace_fault(tofd, to));
    return real(fromfd, from, tofd, to, flags);
}
