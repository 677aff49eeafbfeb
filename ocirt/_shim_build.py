"""cffi build script (API mode, out of line) for the syscall shim in csrc/."""
import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join(os.path.dirname(HERE), "csrc")

ffibuilder = FFI()


def _declarations(header):
    """shim.h without preprocessor lines: cffi's cdef takes plain C declarations."""
    with open(header) as f:
        return "".join(line for line in f if not line.lstrip().startswith("#"))


ffibuilder.cdef(_declarations(os.path.join(CSRC, "shim.h")))
ffibuilder.set_source(
    "ocirt._shim",
    '#include "shim.h"',
    sources=[os.path.relpath(os.path.join(CSRC, "shim.c"))],
    include_dirs=[os.path.relpath(CSRC)],
    libraries=["seccomp"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
