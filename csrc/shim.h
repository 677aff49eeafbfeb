/* ocirt shim: thin wrappers over Linux syscalls that Python 3.11 lacks.
 * Mechanism only: every function does one syscall and returns its result
 * (-1 with errno set on failure). All decisions live in Python. */
#ifndef OCIRT_SHIM_H
#define OCIRT_SHIM_H

#include <stdint.h>
#include <stddef.h>

int ocirt_unshare(int flags);
int ocirt_setns(int fd, int nstype);
int ocirt_mount(const char *source, const char *target, const char *fstype,
                unsigned long flags, const char *data);
int ocirt_umount2(const char *target, int flags);
int ocirt_pivot_root(const char *new_root, const char *put_old);
int ocirt_sethostname(const char *name, size_t len);
int ocirt_setdomainname(const char *name, size_t len);
int ocirt_capget(uint32_t effective[2], uint32_t permitted[2], uint32_t inheritable[2]);
int ocirt_capset(const uint32_t effective[2], const uint32_t permitted[2],
                 const uint32_t inheritable[2]);
long ocirt_prctl(int option, unsigned long a2, unsigned long a3,
                 unsigned long a4, unsigned long a5);
int ocirt_personality(unsigned long persona);
int ocirt_mount_setattr(int dirfd, const char *path, unsigned int flags,
                        uint64_t attr_set, uint64_t attr_clr, uint64_t propagation,
                        uint64_t userns_fd);
long ocirt_join_session_keyring(const char *name);
int ocirt_close_range(unsigned int first, unsigned int last, unsigned int flags);
int ocirt_open_tree(int dirfd, const char *path, unsigned int flags);
int ocirt_move_mount(int from_dirfd, const char *from_path, int to_dirfd,
                     const char *to_path, unsigned int flags);
/* bpf(2), for the cgroup v2 device program: `attr` is a union bpf_attr
 * laid out by the caller. */
long ocirt_bpf(int cmd, void *attr, unsigned int size);

/* libseccomp, for linux.seccomp. These return what libseccomp returns:
 * a negative errno on failure (not -1 with errno). */
void *ocirt_seccomp_init(uint32_t default_action);
int ocirt_seccomp_arch_add(void *ctx, const char *arch_name);
int ocirt_seccomp_syscall(const char *name);
int ocirt_seccomp_rule_add(void *ctx, uint32_t action, int syscall, unsigned int count,
                           const unsigned int *arg_index, const int *op,
                           const uint64_t *value, const uint64_t *value_two);
int ocirt_seccomp_attr_set(void *ctx, int attr, uint32_t value);
int ocirt_seccomp_load(void *ctx);
int ocirt_seccomp_notify_fd(void *ctx);
void ocirt_seccomp_release(void *ctx);

#endif
