"""linux.resources.devices on cgroup v2: an eBPF program attached to the cgroup.

cgroup v2 has no devices controller. The kernel instead runs every
BPF_PROG_TYPE_CGROUP_DEVICE program attached to a process's cgroup (and its
ancestors) on each open/mknod of a device node; the access is allowed only
if all of them return 1.

The program is generated from the rules (compile_rules, pure and unit
tested) and loaded with bpf(2) (attach). Rule semantics are the spec's:
start from "deny everything", later rules override earlier ones. So the
program checks the rules last to first and returns the verdict of the
first one that matches:
  * an allow rule matches an access when it grants every requested letter
    (open for read+write needs a rule with both "r" and "w");
  * a deny rule matches when it names any of the requested letters.
Unlike v1's exception list, a later rule can carve a hole in an earlier
wildcard.
"""

import os
import struct

from ocirt.errors import OcirtError

# struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }:
# access_type = access << 16 | type.
_TYPES = {"b": 1, "c": 2}  # BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR
_ACCESS = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE
_ALL_ACCESS = 7

# Registers: R1 holds the context on entry; the prologue leaves the type in
# R2, the access bits in R3, major in R4 and minor in R5; R1 is then scratch.
_R0, _R1, _R2, _R3, _R4, _R5 = range(6)

# Opcodes (linux/bpf.h): class | op | source.
_LDX_W = 0x61       # BPF_LDX | BPF_MEM | BPF_W
_MOV32_X = 0xBC     # BPF_ALU | BPF_MOV | BPF_X
_RSH32_K = 0x74     # BPF_ALU | BPF_RSH | BPF_K
_AND32_K = 0x54     # BPF_ALU | BPF_AND | BPF_K
_MOV64_K = 0xB7     # BPF_ALU64 | BPF_MOV | BPF_K
_JEQ32_K = 0x16     # BPF_JMP32 | BPF_JEQ | BPF_K
_JNE32_K = 0x56     # BPF_JMP32 | BPF_JNE | BPF_K
_EXIT = 0x95        # BPF_JMP | BPF_EXIT


def _insn(code, dst=0, src=0, off=0, imm=0):
    """One struct bpf_insn: u8 code, u8 dst:4 src:4, s16 off, s32 imm."""
    if imm > 0x7FFFFFFF:  # a u32 constant: the kernel compares 32-bit halves
        imm -= 1 << 32
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


_PROLOGUE = [
    _insn(_LDX_W, _R2, _R1, 0),
    _insn(_MOV32_X, _R3, _R2),
    _insn(_RSH32_K, _R3, imm=16),
    _insn(_AND32_K, _R2, imm=0xFFFF),
    _insn(_LDX_W, _R4, _R1, 4),
    _insn(_LDX_W, _R5, _R1, 8),
]


def _access_bits(letters):
    return sum(_ACCESS[c] for c in letters)


def _rule_block(allow, typ, major, minor, access):
    """Instructions that return the rule's verdict if it matches, else fall through.

    Each test is a conditional jump over the rest of the block; the jump
    offsets are filled in once the block's length is known."""
    tests = []  # (opcode, register, immediate): jump out when the condition holds
    if typ != "a":
        tests.append(([], _JNE32_K, _R2, _TYPES[typ]))
    bits = _access_bits(access)
    if bits != _ALL_ACCESS:
        if allow:  # out unless the request is a subset of the rule: (request & ~bits) != 0
            tests.append(([_insn(_MOV32_X, _R1, _R3), _insn(_AND32_K, _R1, imm=_ALL_ACCESS & ~bits)],
                          _JNE32_K, _R1, 0))
        else:  # out unless the request overlaps the rule: (request & bits) == 0
            tests.append(([_insn(_MOV32_X, _R1, _R3), _insn(_AND32_K, _R1, imm=bits)], _JEQ32_K, _R1, 0))
    if major is not None:
        tests.append(([], _JNE32_K, _R4, major))
    if minor is not None:
        tests.append(([], _JNE32_K, _R5, minor))
    verdict = [_insn(_MOV64_K, _R0, imm=1 if allow else 0), _insn(_EXIT)]
    block = []
    remaining = sum(len(setup) + 1 for setup, *_ in tests) + len(verdict)
    for setup, opcode, register, imm in tests:
        remaining -= len(setup) + 1
        block += setup + [_insn(opcode, register, off=remaining, imm=imm)]
    return block + verdict


def compile_rules(rules):
    """Parsed rules (v1.parse_device_rules tuples) -> the program as bytes of bpf_insn."""
    program = list(_PROLOGUE)
    for jp, allow, typ, major, minor, access in reversed(rules):
        for value in (major, minor):
            if value is not None and value > 0xFFFFFFFF:
                raise OcirtError(f"device number {value} does not fit the kernel's 32 bits", path=jp)
        block = _rule_block(allow, typ, major, minor, access)
        program += block
        if len(block) == 2:  # matches every access: what precedes it can never apply
            return b"".join(program)  # (and the verifier refuses unreachable code)
    program += [_insn(_MOV64_K, _R0, imm=0), _insn(_EXIT)]
    return b"".join(program)


# ---------------------------------------------------------------- loading (bpf(2))

_BPF_PROG_LOAD = 5
_BPF_PROG_ATTACH = 8
_BPF_PROG_TYPE_CGROUP_DEVICE = 15
_BPF_CGROUP_DEVICE = 6
_BPF_F_ALLOW_MULTI = 2
_ATTR_SIZE = 128  # our view of union bpf_attr; the kernel zero-fills the rest
_LOG_SIZE = 1 << 16


def _bpf(command, attr, what):
    from ocirt._shim import ffi, lib
    rc = lib.ocirt_bpf(command, ffi.from_buffer(attr), len(attr))
    if rc < 0:
        err = ffi.errno
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return rc


def _address(buffer):
    from ocirt._shim import ffi
    return int(ffi.cast("uintptr_t", ffi.from_buffer(buffer)))


def load(program):
    """BPF_PROG_LOAD: a program fd, or an OcirtError with the verifier's last words."""
    license, log = bytearray(b"Apache-2.0\0"), bytearray(_LOG_SIZE)
    insns = bytearray(program)
    attr = bytearray(_ATTR_SIZE)
    # prog_type, insn_cnt, insns, license, log_level, log_size, log_buf
    struct.pack_into("<IIQQIIQ", attr, 0, _BPF_PROG_TYPE_CGROUP_DEVICE, len(program) // 8,
                     _address(insns), _address(license), 1, _LOG_SIZE, _address(log))
    attr[48:48 + 11] = b"ocirt_devs\0"  # prog_name, for bpftool
    try:
        return _bpf(_BPF_PROG_LOAD, attr, "loading the device program")
    except OSError as exc:
        words = log.rstrip(b"\0").decode(errors="replace").strip().splitlines()
        words = [w for w in words if not w.startswith("processed ")]  # statistics, not the reason
        detail = f" (verifier: {words[-1]})" if words else ""
        raise OcirtError(f"the kernel refused ocirt's cgroup v2 device program: {exc.strerror}{detail}") from None


def attach(directory, rules, json_path="linux.resources.devices"):
    """Compile `rules` and attach the program to the cgroup v2 `directory`.

    BPF_F_ALLOW_MULTI keeps programs of parent cgroups in force: a
    container never gets more than its parent allows. The cgroup holds the
    program from then on; it goes away with the cgroup."""
    prog = load(compile_rules(rules))
    try:
        target = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            attr = bytearray(_ATTR_SIZE)
            # target_fd, attach_bpf_fd, attach_type, attach_flags
            struct.pack_into("<IIII", attr, 0, target, prog, _BPF_CGROUP_DEVICE, _BPF_F_ALLOW_MULTI)
            _bpf(_BPF_PROG_ATTACH, attr, "attaching the device program")
        finally:
            os.close(target)
    except OSError as exc:
        raise OcirtError(f"cannot attach the device program to {directory}: {exc.strerror}", path=json_path) \
            from None
    finally:
        os.close(prog)
