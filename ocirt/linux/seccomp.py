"""linux.seccomp: build a filter with libseccomp (through the shim) and load it.

`compile_filter` runs before the container's init reports ready, so a bad
profile fails `create`; `Filter.load` runs just before execve (see init.py
for the order relative to no_new_privs).
"""
import errno
import os

from ocirt.errors import OcirtError

# libseccomp's action values (seccomp.h); ERRNO and TRACE carry a 16-bit value.
ACTIONS = {
    "SCMP_ACT_KILL": 0x00000000,
    "SCMP_ACT_KILL_THREAD": 0x00000000,
    "SCMP_ACT_KILL_PROCESS": 0x80000000,
    "SCMP_ACT_TRAP": 0x00030000,
    "SCMP_ACT_ERRNO": 0x00050000,
    "SCMP_ACT_TRACE": 0x7FF00000,
    "SCMP_ACT_ALLOW": 0x7FFF0000,
    "SCMP_ACT_LOG": 0x7FFC0000,
    "SCMP_ACT_NOTIFY": 0x7FC00000,
}
OPERATORS = {
    "SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7,
}
ARCHITECTURES = (
    "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64",
)
# SECCOMP_FILTER_FLAG_* -> libseccomp filter attribute that sets it
FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": 4,      # SCMP_FLTATR_CTL_TSYNC
    "SECCOMP_FILTER_FLAG_LOG": 6,        # SCMP_FLTATR_CTL_LOG
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 7,  # SCMP_FLTATR_CTL_SSB
}
_ATTR_CTL_NNP = 3
_WITH_VALUE = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")


def _action(name, value, path):
    if name not in ACTIONS:
        raise OcirtError(f"unknown seccomp action {name!r}", path=path, source="config.json")
    if name in _WITH_VALUE:
        default = errno.EPERM if name == "SCMP_ACT_ERRNO" else 0
        return ACTIONS[name] | ((default if value is None else value) & 0xFFFF)
    return ACTIONS[name]


def _fail(rc, what, path=None):
    raise OcirtError(f"seccomp: {what}: {os.strerror(-rc)}", path=path, source="config.json")


class Filter:
    """A libseccomp filter context, ready to load."""

    def __init__(self, ctx, uses_notify):
        self.ctx = ctx
        self.uses_notify = uses_notify

    def load(self):
        """Load into this process; returns the notify fd when a rule uses SCMP_ACT_NOTIFY."""
        from ocirt._shim import lib

        rc = lib.ocirt_seccomp_load(self.ctx)
        if rc < 0:
            _fail(rc, "loading the filter")
        if self.uses_notify:
            fd = lib.ocirt_seccomp_notify_fd(self.ctx)
            if fd < 0:
                _fail(fd, "getting the notify fd")
            return fd
        return None


def compile_filter(config):
    """A Filter for `linux.seccomp`, every name, action and operator checked."""
    from ocirt._shim import ffi, lib

    path = "linux.seccomp"
    default = _action(config["defaultAction"], config.get("defaultErrnoRet"), f"{path}.defaultAction")
    ctx = lib.ocirt_seccomp_init(default)
    if ctx == ffi.NULL:
        raise OcirtError("seccomp: cannot create a filter (is libseccomp usable?)")
    # no_new_privs is the config's business (process.noNewPrivileges), not libseccomp's.
    rc = lib.ocirt_seccomp_attr_set(ctx, _ATTR_CTL_NNP, 0)
    if rc < 0:
        _fail(rc, "clearing the no_new_privs attribute")
    for i, arch in enumerate(config.get("architectures") or ()):
        if arch not in ARCHITECTURES:
            raise OcirtError(f"unknown seccomp architecture {arch!r}", path=f"{path}.architectures[{i}]",
                             source="config.json")
        rc = lib.ocirt_seccomp_arch_add(ctx, arch[len("SCMP_ARCH_"):].lower().encode())
        if rc < 0 and rc != -errno.EEXIST:
            _fail(rc, f"adding architecture {arch}", f"{path}.architectures[{i}]")
    for i, flag in enumerate(config.get("flags") or ()):
        if flag not in FLAGS:
            raise OcirtError(f"unsupported seccomp flag {flag!r}", path=f"{path}.flags[{i}]", source="config.json")
        rc = lib.ocirt_seccomp_attr_set(ctx, FLAGS[flag], 1)
        if rc < 0:
            _fail(rc, f"setting {flag}", f"{path}.flags[{i}]")
    uses_notify = config["defaultAction"] == "SCMP_ACT_NOTIFY"
    for i, rule in enumerate(config.get("syscalls") or ()):
        rule_path = f"{path}.syscalls[{i}]"
        action = _action(rule["action"], rule.get("errnoRet"), f"{rule_path}.action")
        uses_notify |= rule["action"] == "SCMP_ACT_NOTIFY"
        conditions = [_condition(arg, f"{rule_path}.args[{j}]") for j, arg in enumerate(rule.get("args") or ())]
        if action == default:
            continue  # libseccomp refuses a rule that repeats the default action
        for name in rule["names"]:
            number = lib.ocirt_seccomp_syscall(name.encode())
            if number == -1:  # __NR_SCMP_ERROR: this kernel/arch has no such syscall
                continue
            for group in _condition_groups(conditions):
                _add_rule(ctx, action, number, group, name, rule_path)
    if uses_notify and not (config.get("listenerPath")):
        raise OcirtError("SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath", path=path, source="config.json")
    return Filter(ctx, uses_notify)


def _condition(arg, path):
    op = OPERATORS.get(arg["op"])
    if op is None:
        raise OcirtError(f"unknown seccomp operator {arg['op']!r}", path=f"{path}.op", source="config.json")
    if not 0 <= arg["index"] <= 5:
        raise OcirtError(f"syscall argument index {arg['index']} is not 0 to 5", path=f"{path}.index",
                         source="config.json")
    return arg["index"], op, arg["value"], arg.get("valueTwo", 0)


def _condition_groups(conditions):
    """libseccomp takes one comparison per argument in a rule; conditions that
    repeat an argument become one rule each, as runc does."""
    indexes = [c[0] for c in conditions]
    if len(set(indexes)) == len(indexes):
        return [conditions]
    return [[c] for c in conditions]


def _add_rule(ctx, action, number, conditions, name, path):
    from ocirt._shim import ffi, lib

    count = len(conditions)
    rc = lib.ocirt_seccomp_rule_add(
        ctx, action, number, count,
        ffi.new("unsigned int[]", [c[0] for c in conditions] or [0]),
        ffi.new("int[]", [c[1] for c in conditions] or [0]),
        ffi.new("uint64_t[]", [c[2] for c in conditions] or [0]),
        ffi.new("uint64_t[]", [c[3] for c in conditions] or [0]))
    if rc < 0:
        _fail(rc, f"adding a rule for {name}", path)


def send_to_listener(listener_fd, notify_fd, state, metadata):
    """Hand the notify fd and the container's state to the seccomp agent
    (runtime-spec: containerProcessState over SCM_RIGHTS)."""
    import socket

    from ocirt import jsonfast

    message = {"ociVersion": state.get("ociVersion", "1.3.0"), "fds": ["seccompFd"],
               "pid": state["pid"], "metadata": metadata or "", "state": state}
    sock = socket.socket(fileno=listener_fd)
    try:
        socket.send_fds(sock, [jsonfast.dumps(message).encode()], [notify_fd])
    finally:
        sock.close()
