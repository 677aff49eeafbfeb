"""The cgroup v2 device program, run on a small eBPF interpreter.

compile_rules() output is executed here instruction by instruction (only
the opcodes it may emit are known to the interpreter, so anything else
fails the test) and its verdicts compared with the spec's rule semantics
written the plain way: later rules override earlier ones, starting from
deny-all. The same program is loaded into the real kernel by
tests/integration/test_cgroups.py.
"""
import itertools
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocirt.errors import OcirtError
from ocirt.linux.cgroups import devicefilter, v1

ACCESS_BITS = {"m": 1, "r": 2, "w": 4}
TYPE_BITS = {"b": 1, "c": 2}
U32 = 0xFFFFFFFF


def run_program(program, dev_type, major, minor, access):
    """Execute the program on one request; returns R0 at exit."""
    insns = [struct.unpack("<BBhi", program[i:i + 8]) for i in range(0, len(program), 8)]
    ctx = [(sum(ACCESS_BITS[c] for c in access) << 16) | TYPE_BITS[dev_type], major, minor]
    regs = [0] * 11
    regs[1] = "ctx"
    pc, steps = 0, 0
    while True:
        steps += 1
        assert steps < 10_000, "no exit"
        code, regs_byte, off, imm = insns[pc]
        dst, src = regs_byte & 0xF, regs_byte >> 4
        pc += 1
        if code == 0x61:  # ldxw dst, [src + off]
            assert regs[src] == "ctx" and off % 4 == 0
            regs[dst] = ctx[off // 4]
        elif code == 0xBC:
            regs[dst] = regs[src] & U32
        elif code == 0x74:
            regs[dst] = (regs[dst] & U32) >> imm
        elif code == 0x54:
            regs[dst] = regs[dst] & imm & U32
        elif code == 0xB7:
            regs[dst] = imm
        elif code in (0x16, 0x56):  # jeq32 / jne32 with an immediate
            equal = (regs[dst] & U32) == (imm & U32)
            if equal == (code == 0x16):
                pc += off
        elif code == 0x95:
            return regs[0]
        else:
            pytest.fail(f"unexpected opcode {code:#x}")


def reference_verdict(rules, dev_type, major, minor, access):
    """The rules as the spec reads: the last rule that matches decides; none: deny."""
    verdict = False
    for _, allow, typ, rmajor, rminor, raccess in rules:
        if typ not in ("a", dev_type) or rmajor not in (None, major) or rminor not in (None, minor):
            continue
        if allow and set(access) <= set(raccess):
            verdict = True
        elif not allow and set(access) & set(raccess):
            verdict = False
    return verdict


def verdicts(rules):
    program = devicefilter.compile_rules(v1.parse_device_rules(rules))
    out = {}
    for dev_type, major, minor, access in itertools.product("cb", (1, 5, 136), (0, 3, 9), ("r", "w", "m", "rw")):
        out[(dev_type, major, minor, access)] = run_program(program, dev_type, major, minor, access)
    return out


def test_no_rules_deny_everything():
    assert set(verdicts([]).values()) == {0}


def test_allow_all_allows_everything():
    assert set(verdicts([{"allow": True, "access": "rwm"}]).values()) == {1}


def test_a_later_deny_carves_a_hole_in_an_allow():
    rules = [{"allow": True, "type": "c", "major": 1, "access": "rwm"},
             {"allow": False, "type": "c", "major": 1, "minor": 3, "access": "w"}]
    got = verdicts(rules)
    assert got[("c", 1, 3, "r")] == 1
    assert got[("c", 1, 3, "w")] == 0
    assert got[("c", 1, 3, "rw")] == 0  # read+write names a denied letter
    assert got[("c", 1, 9, "w")] == 1
    assert got[("b", 1, 3, "r")] == 0


def test_an_allow_must_grant_every_requested_letter():
    got = verdicts([{"allow": True, "type": "c", "major": 1, "minor": 3, "access": "r"},
                    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "w"}])
    assert (got[("c", 1, 3, "r")], got[("c", 1, 3, "w")], got[("c", 1, 3, "rw")]) == (1, 1, 0)


def test_large_device_numbers_compare_as_unsigned_32_bit():
    rules = [{"allow": True, "type": "c", "major": 0xFFFFFFF0, "minor": 0xFFFFFFFF, "access": "r"}]
    program = devicefilter.compile_rules(v1.parse_device_rules(rules))
    assert run_program(program, "c", 0xFFFFFFF0, 0xFFFFFFFF, "r") == 1
    assert run_program(program, "c", 0xFFFFFFF0, 0xFFFFFFFE, "r") == 0


def test_device_numbers_beyond_32_bits_are_refused_with_their_path():
    with pytest.raises(OcirtError) as err:
        devicefilter.compile_rules(v1.parse_device_rules([{"allow": True, "major": 1 << 32}], "devices"))
    assert err.value.path == "devices[0]"


rule_strategy = st.fixed_dictionaries({
    "allow": st.booleans(),
    "type": st.sampled_from(["a", "c", "b"]),
    "major": st.sampled_from([-1, 1, 5, 136]),
    "minor": st.sampled_from([-1, 0, 3, 9]),
    "access": st.sampled_from(["r", "w", "m", "rw", "rm", "wm", "rwm"]),
})


@settings(max_examples=300, deadline=None)
@given(st.lists(rule_strategy, max_size=6))
def test_program_agrees_with_the_spec_semantics(rules):
    parsed = v1.parse_device_rules(rules)
    for request, got in verdicts(rules).items():
        assert got == int(reference_verdict(parsed, *request)), (rules, request)


def test_nothing_after_an_unconditional_rule():
    """The verifier refuses unreachable instructions: a rule that matches every
    access ends the program."""
    program = devicefilter.compile_rules(v1.parse_device_rules(
        [{"allow": True, "type": "c", "major": 1, "access": "r"}, {"allow": False, "access": "rwm"}]))
    assert len(program) == (6 + 2) * 8  # prologue, then "return 0"
