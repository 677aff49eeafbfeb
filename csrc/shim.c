/* See shim.h: one syscall per function, no policy. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <seccomp.h>
#include "shim.h"

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif

int ocirt_unshare(int flags) { return unshare(flags); }

int ocirt_setns(int fd, int nstype) { return setns(fd, nstype); }

int ocirt_mount(const char *source, const char *target, const char *fstype,
                unsigned long flags, const char *data)
{
    return mount(source, target, fstype, flags, data);
}

int ocirt_umount2(const char *target, int flags) { return umount2(target, flags); }

int ocirt_pivot_root(const char *new_root, const char *put_old)
{
    return (int)syscall(SYS_pivot_root, new_root, put_old);
}

int ocirt_sethostname(const char *name, size_t len) { return sethostname(name, len); }

int ocirt_setdomainname(const char *name, size_t len) { return setdomainname(name, len); }

/* Version 3 capability structs carry 64 bits as two 32-bit words. */
int ocirt_capget(uint32_t effective[2], uint32_t permitted[2], uint32_t inheritable[2])
{
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &header, data) < 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        effective[i] = data[i].effective;
        permitted[i] = data[i].permitted;
        inheritable[i] = data[i].inheritable;
    }
    return 0;
}

int ocirt_capset(const uint32_t effective[2], const uint32_t permitted[2],
                 const uint32_t inheritable[2])
{
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    for (int i = 0; i < 2; i++) {
        data[i].effective = effective[i];
        data[i].permitted = permitted[i];
        data[i].inheritable = inheritable[i];
    }
    return (int)syscall(SYS_capset, &header, data);
}

long ocirt_prctl(int option, unsigned long a2, unsigned long a3,
                 unsigned long a4, unsigned long a5)
{
    return prctl(option, a2, a3, a4, a5);
}

int ocirt_personality(unsigned long persona) { return personality(persona); }

struct ocirt_mount_attr {
    uint64_t attr_set;
    uint64_t attr_clr;
    uint64_t propagation;
    uint64_t userns_fd;
};

int ocirt_mount_setattr(int dirfd, const char *path, unsigned int flags,
                        uint64_t attr_set, uint64_t attr_clr, uint64_t propagation,
                        uint64_t userns_fd)
{
    struct ocirt_mount_attr attr = { attr_set, attr_clr, propagation, userns_fd };
    return (int)syscall(SYS_mount_setattr, dirfd, path, flags, &attr, sizeof(attr));
}

/* KEYCTL_JOIN_SESSION_KEYRING: a new, named session keyring for this process. */
long ocirt_join_session_keyring(const char *name)
{
    return syscall(SYS_keyctl, 1, name, 0, 0, 0);
}

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

int ocirt_close_range(unsigned int first, unsigned int last, unsigned int flags)
{
    return (int)syscall(SYS_close_range, first, last, flags);
}

int ocirt_open_tree(int dirfd, const char *path, unsigned int flags)
{
    return (int)syscall(SYS_open_tree, dirfd, path, flags);
}

int ocirt_move_mount(int from_dirfd, const char *from_path, int to_dirfd,
                     const char *to_path, unsigned int flags)
{
    return (int)syscall(SYS_move_mount, from_dirfd, from_path, to_dirfd, to_path, flags);
}

long ocirt_bpf(int cmd, void *attr, unsigned int size)
{
    return syscall(SYS_bpf, cmd, attr, size);
}

void *ocirt_seccomp_init(uint32_t default_action) { return seccomp_init(default_action); }

int ocirt_seccomp_arch_add(void *ctx, const char *arch_name)
{
    uint32_t arch = seccomp_arch_resolve_name(arch_name);
    if (arch == 0)
        return -EINVAL;
    return seccomp_arch_add(ctx, arch);
}

int ocirt_seccomp_syscall(const char *name) { return seccomp_syscall_resolve_name(name); }

int ocirt_seccomp_rule_add(void *ctx, uint32_t action, int syscall, unsigned int count,
                           const unsigned int *arg_index, const int *op,
                           const uint64_t *value, const uint64_t *value_two)
{
    struct scmp_arg_cmp args[6];
    if (count > 6)
        return -EINVAL;
    for (unsigned int i = 0; i < count; i++) {
        args[i].arg = arg_index[i];
        args[i].op = (enum scmp_compare)op[i];
        args[i].datum_a = value[i];
        args[i].datum_b = value_two[i];
    }
    return seccomp_rule_add_array(ctx, action, syscall, count, args);
}

int ocirt_seccomp_attr_set(void *ctx, int attr, uint32_t value)
{
    return seccomp_attr_set(ctx, (enum scmp_filter_attr)attr, value);
}

int ocirt_seccomp_load(void *ctx) { return seccomp_load(ctx); }

int ocirt_seccomp_notify_fd(void *ctx) { return seccomp_notify_fd(ctx); }

void ocirt_seccomp_release(void *ctx) { seccomp_release(ctx); }
