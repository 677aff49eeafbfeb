import json
import os
import sys
import types

import pytest

import ocirt.linux
from ocirt import capabilities as capmod
from ocirt.capabilities import (CAPABILITIES, apply_capabilities, capability_names, drop_bounding,
                                last_cap, masks, to_mask)
from ocirt.errors import OcirtError

ALL = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"]


def test_table():
    assert len(CAPABILITIES) == 41
    assert sorted(CAPABILITIES.values()) == list(range(41))
    assert CAPABILITIES["CAP_CHOWN"] == 0
    assert CAPABILITIES["CAP_SYS_ADMIN"] == 21
    assert CAPABILITIES["CAP_AUDIT_READ"] == 37
    assert CAPABILITIES["CAP_CHECKPOINT_RESTORE"] == 40
    assert all(name.startswith("CAP_") for name in CAPABILITIES)


def test_last_cap():
    with open("/proc/sys/kernel/cap_last_cap") as f:
        assert last_cap() == int(f.read())


def test_to_mask():
    assert to_mask([], "x") == 0
    assert to_mask(None, "x") == 0
    assert to_mask(["CAP_CHOWN"], "x") == 1
    assert to_mask(["CAP_KILL", "CAP_SYS_ADMIN", "CAP_KILL"], "x") == (1 << 5) | (1 << 21)
    assert to_mask(list(CAPABILITIES), "x") == (1 << 41) - 1


def test_unknown_name_points_at_item():
    with pytest.raises(OcirtError) as e:
        to_mask(["CAP_KILL", "CAP_FLY"], "process.capabilities.bounding")
    err = e.value
    assert err.message == "unknown capability 'CAP_FLY'"
    assert err.path == "process.capabilities.bounding[1]"
    assert err.source == "config.json"
    assert str(err) == "config.json: process.capabilities.bounding[1]: unknown capability 'CAP_FLY'"
    with pytest.raises(OcirtError, match="unknown capability 'kill'"):
        to_mask(["kill"], "capabilities.effective", source="process.json")


def test_names():
    assert capability_names(0) == []
    assert capability_names((1 << 5) | (1 << 21) | (1 << 50)) == ["CAP_KILL", "CAP_SYS_ADMIN", "CAP_50"]


def test_masks():
    sets = masks({"bounding": ALL, "effective": ALL, "permitted": ALL,
                  "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]})
    assert sets["bounding"] == to_mask(ALL, "x")
    assert sets["ambient"] == 1 << 5
    assert masks(None) == dict.fromkeys(("bounding", "effective", "permitted", "inheritable", "ambient"), 0)


def test_masks_paths():
    with pytest.raises(OcirtError) as e:
        masks({"permitted": ["CAP_BOGUS"]}, "capabilities", "process.json")
    assert str(e.value) == "process.json: capabilities.permitted[0]: unknown capability 'CAP_BOGUS'"


def test_effective_must_be_permitted():
    with pytest.raises(OcirtError) as e:
        masks({"effective": ["CAP_KILL", "CAP_CHOWN"], "permitted": ["CAP_KILL"]})
    assert e.value.path == "process.capabilities.effective"
    assert e.value.message == "CAP_CHOWN must also be permitted"


@pytest.mark.parametrize("caps", [
    {"ambient": ["CAP_KILL"], "permitted": ["CAP_KILL"]},
    {"ambient": ["CAP_KILL"], "inheritable": ["CAP_KILL"]},
])
def test_ambient_must_be_permitted_and_inheritable(caps):
    with pytest.raises(OcirtError) as e:
        masks(caps)
    assert e.value.path == "process.capabilities.ambient"
    assert e.value.message == "CAP_KILL must also be both permitted and inheritable"


class FakeSyscalls(types.ModuleType):
    """Records the calls apply_capabilities makes; the bounding set starts full."""
    PR_CAPBSET_DROP, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE = 24, 47, 2
    PR_CAP_AMBIENT_CLEAR_ALL, PR_SET_KEEPCAPS = 4, 8

    def __init__(self):
        super().__init__("fake_syscalls")
        self.calls = []
        self.bounding = set(range(last_cap() + 1))

    def prctl(self, option, arg2=0, arg3=0, arg4=0, arg5=0):
        if option == capmod.PR_CAPBSET_READ:
            return int(arg2 in self.bounding)
        if option == self.PR_CAPBSET_DROP:
            self.bounding.discard(arg2)
        self.calls.append(("prctl", option, arg2, arg3))
        return 0

    def capset(self, effective, permitted, inheritable):
        self.calls.append(("capset", effective, permitted, inheritable))


@pytest.fixture
def fake(monkeypatch):
    fake = FakeSyscalls()
    monkeypatch.setitem(sys.modules, "ocirt.linux.syscalls", fake)
    monkeypatch.setattr(ocirt.linux, "syscalls", fake, raising=False)
    return fake


def test_apply_sequence(fake):
    caps = {"bounding": ALL, "effective": ALL, "permitted": ALL,
            "inheritable": ["CAP_KILL", "CAP_CHOWN"], "ambient": ["CAP_KILL", "CAP_CHOWN"]}
    apply_capabilities(caps)
    keep = {CAPABILITIES[n] for n in ALL}
    drops = [c for c in fake.calls if c[:2] == ("prctl", 24)]
    assert [c[2] for c in drops] == [n for n in range(last_cap() + 1) if n not in keep]
    rest = fake.calls[len(drops):]
    mask = to_mask(ALL, "x")
    assert rest == [
        ("prctl", 8, 0, 0),
        ("capset", mask, mask, 0b100001),
        ("prctl", 47, 4, 0),
        ("prctl", 47, 2, 0),   # CAP_CHOWN, lowest first
        ("prctl", 47, 2, 5),   # CAP_KILL
    ]


def test_apply_in_two_steps(fake):
    caps = {"bounding": ALL, "effective": ALL, "permitted": ALL}
    apply_capabilities(caps, keep_for_setuid=True)
    assert fake.calls[-1] == ("prctl", 8, 1, 0)
    assert not any(c[0] == "capset" for c in fake.calls)
    fake.calls.clear()
    apply_capabilities(caps)
    # The bounding set is already reduced: no second drop (it would need CAP_SETPCAP).
    assert not any(c[:2] == ("prctl", 24) for c in fake.calls)
    assert fake.calls[0] == ("prctl", 8, 0, 0)
    assert fake.calls[1][0] == "capset"


def test_apply_none_drops_everything(fake):
    apply_capabilities(None)
    assert fake.bounding == set()
    assert ("capset", 0, 0, 0) in fake.calls


def test_drop_bounding(fake):
    drop_bounding(["CAP_KILL"])
    assert fake.bounding == {5}
    with pytest.raises(OcirtError, match=r"unknown capability 'CAP_X'"):
        drop_bounding(["CAP_X"])


def test_kernel_errors_become_ocirt_errors(fake, monkeypatch):
    def capset(*args):
        raise OSError(1, "capset: Operation not permitted")

    monkeypatch.setattr(fake, "capset", capset)
    with pytest.raises(OcirtError) as e:
        apply_capabilities({"bounding": ALL})
    assert str(e.value) == "cannot set capabilities: Operation not permitted"


def _shim_available():
    try:
        import ocirt._shim  # noqa: F401
        from ocirt.linux import syscalls  # noqa: F401
        return True
    except ImportError:
        return False


def _status_caps():
    with open("/proc/self/status") as f:
        return {k: int(v, 16) for k, v in (line.split(":\t") for line in f)
                if k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}


def _in_child(function):
    """Run `function` in a forked child; return what it returned (as JSON) or raise its error."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            result = {"ok": function()}
        except BaseException as e:  # report everything to the parent
            result = {"error": f"{type(e).__name__}: {e}"}
        os.write(w, json.dumps(result).encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    result = json.loads(data)
    if "error" in result:
        raise AssertionError(result["error"])
    return result["ok"]


needs_shim = pytest.mark.skipif(not _shim_available(), reason="ocirt._shim is not built yet")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root with CAP_SETPCAP")


@needs_shim
@needs_root
def test_apply_for_real_as_root():
    caps = {"bounding": ALL, "effective": ALL, "permitted": ALL,
            "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]}

    def child():
        apply_capabilities(caps)
        return _status_caps()

    status = _in_child(child)
    mask = to_mask(ALL, "x")
    assert status == {"CapInh": 1 << 5, "CapPrm": mask, "CapEff": mask, "CapBnd": mask, "CapAmb": 1 << 5}


@needs_shim
@needs_root
def test_apply_for_real_across_setuid():
    caps = {"bounding": ALL, "effective": ["CAP_KILL"], "permitted": ALL,
            "inheritable": ["CAP_NET_BIND_SERVICE"], "ambient": ["CAP_NET_BIND_SERVICE"]}

    def child():
        apply_capabilities(caps, keep_for_setuid=True)
        os.setresgid(1000, 1000, 1000)
        os.setresuid(1000, 1000, 1000)
        apply_capabilities(caps)
        return [os.getuid(), _status_caps()]

    uid, status = _in_child(child)
    assert uid == 1000
    assert status == {"CapInh": 1 << 10, "CapPrm": to_mask(ALL, "x"), "CapEff": 1 << 5,
                      "CapBnd": to_mask(ALL, "x"), "CapAmb": 1 << 10}


@needs_shim
@needs_root
def test_lead_sequence_with_drop_bounding():
    # What init.py does: KEEPCAPS, drop_bounding, setuid, apply_capabilities.
    caps = {"bounding": ALL, "effective": ALL, "permitted": ALL}

    def child():
        from ocirt.linux import syscalls
        syscalls.prctl(syscalls.PR_SET_KEEPCAPS, 1)
        drop_bounding(caps["bounding"])
        os.setresuid(1000, 1000, 1000)
        apply_capabilities(caps)
        return _status_caps()

    status = _in_child(child)
    assert status["CapEff"] == status["CapPrm"] == status["CapBnd"] == to_mask(ALL, "x")
