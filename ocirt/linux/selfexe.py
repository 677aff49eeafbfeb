"""Keep containers from writing the interpreter ocirt runs on (CVE-2019-5736 class).

While ocirt's processes are inside a container (the init before exec, an exec
before exec), /proc/PID/exe of them and of anything they execve through
`#!/proc/self/exe` is the interpreter ocirt runs on. A container that reaches
it (a crafted script, or CAP_SYS_PTRACE on the created init) could open the
host's binary through that link and rewrite it. So the commands that enter
containers first re-execute themselves from a sealed memfd copy of the
interpreter (a few tens of KiB; libpython stays mapped from the host, and
/proc/PID/map_files needs CAP_SYS_ADMIN in the host's user namespace), as
runc does with a copy of its own binary. An interpreter on a read-only
mount is already safe and is used as it is.
"""
import os
import sys

MEMFD_NAME = "ocirt-python"
_SEALS = ("F_SEAL_SEAL", "F_SEAL_SHRINK", "F_SEAL_GROW", "F_SEAL_WRITE")


def protected():
    """True when /proc/self/exe cannot be written: our sealed copy, or a read-only mount."""
    try:
        if os.readlink("/proc/self/exe").startswith(f"/memfd:{MEMFD_NAME}"):
            return True
        return bool(os.statvfs("/proc/self/exe").f_flag & os.ST_RDONLY)
    except OSError:
        return False


def reexec_sealed():
    """Replace this process with the same command run from a sealed memfd copy of
    the interpreter; returns only when that is not needed."""
    if protected():
        return
    import fcntl

    fd = os.memfd_create(MEMFD_NAME, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    with open("/proc/self/exe", "rb") as binary:
        data = binary.read()
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    seals = 0
    for name in _SEALS:
        seals |= getattr(fcntl, name)
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
    # orig_argv keeps the interpreter's own flags (-IS) and the script, so the
    # new process starts exactly as this one did.
    os.execve(f"/proc/self/fd/{fd}", sys.orig_argv, os.environ)
