import json
import os
import resource

import pytest

from ocirt.errors import OcirtError
from ocirt.linux.rlimits import RLIMITS, apply_rlimits

INF = 2**64 - 1


def in_child(rlimits, *extra):
    """apply_rlimits in a forked child; return (error text or None, limits of `extra`)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            try:
                apply_rlimits(rlimits)
                error = None
            except OcirtError as e:
                error = str(e)
            limits = [resource.getrlimit(RLIMITS[name]) for name in extra]
            os.write(w, json.dumps([error, limits]).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    error, limits = json.loads(data)
    return error, [tuple(x) for x in limits]


def test_numbers_match_resource_module():
    assert len(RLIMITS) == 16
    assert sorted(RLIMITS.values()) == list(range(16))
    for name, number in RLIMITS.items():
        if hasattr(resource, name):  # Python lacks RLIMIT_LOCKS
            assert getattr(resource, name) == number, name


def test_lowering_limits():
    error, limits = in_child([
        {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
    ], "RLIMIT_NOFILE", "RLIMIT_CORE")
    assert error is None
    assert limits == [(100, 200), (0, 0)]


def test_unlimited():
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    if hard != resource.RLIM_INFINITY:
        pytest.skip("RLIMIT_CPU hard limit is not unlimited here")
    error, limits = in_child([{"type": "RLIMIT_CPU", "soft": INF, "hard": INF}], "RLIMIT_CPU")
    assert error is None
    assert limits == [(resource.RLIM_INFINITY, resource.RLIM_INFINITY)]


def test_test_process_keeps_its_limits():
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    in_child([{"type": "RLIMIT_NOFILE", "soft": 64, "hard": 64}])
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == before


def _has_sys_resource():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16) >> 24 & 1
    return False


@pytest.mark.skipif(_has_sys_resource(), reason="needs a process without CAP_SYS_RESOURCE")
def test_raising_hard_limit_without_cap_sys_resource():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    with open("/proc/sys/fs/nr_open") as f:
        nr_open = int(f.read())
    if hard >= nr_open:
        pytest.skip("the hard limit is already at fs.nr_open")
    want = min(hard * 2, nr_open)
    error, _ = in_child([{"type": "RLIMIT_NOFILE", "soft": want, "hard": want}])
    assert error == (f"config.json: process.rlimits[0]: setrlimit RLIMIT_NOFILE (soft {want}, hard {want}): "
                     f"Operation not permitted (raising the hard limit above {hard} needs CAP_SYS_RESOURCE)")


def test_above_nr_open():
    with open("/proc/sys/fs/nr_open") as f:
        nr_open = int(f.read())
    want = nr_open + 1
    error, _ = in_child([{"type": "RLIMIT_NOFILE", "soft": want, "hard": want}])
    assert error == (f"config.json: process.rlimits[0]: setrlimit RLIMIT_NOFILE (soft {want}, hard {want}): "
                     f"Operation not permitted (the hard limit is above fs.nr_open, {nr_open})")


def test_stops_at_first_failure():
    error, limits = in_child([
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
        {"type": "RLIMIT_CORE", "soft": 1, "hard": 1},   # raising a lowered hard limit
        {"type": "RLIMIT_NOFILE", "soft": 10, "hard": 10},
    ], "RLIMIT_CORE", "RLIMIT_NOFILE")
    assert error.startswith("config.json: process.rlimits[1]: setrlimit RLIMIT_CORE (soft 1, hard 1): "
                            "Operation not permitted")
    assert limits[0] == (0, 0)
    assert limits[1] == resource.getrlimit(resource.RLIMIT_NOFILE)


@pytest.mark.parametrize("rlimit, message", [
    ({"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1},
     "config.json: process.rlimits[0].type: unknown rlimit 'RLIMIT_BOGUS'"),
    ({"type": "RLIMIT_CORE", "soft": 2, "hard": 1},
     "config.json: process.rlimits[0]: setrlimit RLIMIT_CORE (soft 2, hard 1): "
     "the soft limit is above the hard limit"),
    ({"type": "RLIMIT_CORE", "soft": -1, "hard": 1},
     "config.json: process.rlimits[0]: RLIMIT_CORE: limit -1 is not an unsigned 64-bit integer"),
    ({"type": "RLIMIT_CORE", "soft": 1, "hard": 2**64},
     "config.json: process.rlimits[0]: RLIMIT_CORE: limit 18446744073709551616 is not an "
     "unsigned 64-bit integer"),
    ({"type": "RLIMIT_CORE", "soft": "1", "hard": 1},
     "config.json: process.rlimits[0]: RLIMIT_CORE: limit '1' is not an unsigned 64-bit integer"),
])
def test_config_errors(rlimit, message):
    # Raised before any kernel call, so no child is needed.
    with pytest.raises(OcirtError) as e:
        apply_rlimits([rlimit])
    assert str(e.value) == message


def test_empty():
    apply_rlimits([])
    apply_rlimits(None)
