"""The transition table, id validation, status derivation and the store."""
import os
import subprocess

import pytest

from ocirt import state as st
from ocirt.errors import ContainerNotFound, InvalidState, OcirtError

# What the issue (and runc's callers) require, written out independently of ALLOWED.
EXPECTED = {
    ("start", st.CREATED),
    ("kill", st.CREATED), ("kill", st.RUNNING), ("kill", st.PAUSED),
    ("kill-all", st.CREATED), ("kill-all", st.RUNNING), ("kill-all", st.PAUSED), ("kill-all", st.STOPPED),
    ("delete", st.STOPPED),
    *(("delete-force", s) for s in st.STATUSES),
    ("pause", st.RUNNING),
    ("resume", st.PAUSED),
    ("exec", st.CREATED), ("exec", st.RUNNING),
    ("update", st.CREATED), ("update", st.RUNNING), ("update", st.PAUSED),
    ("ps", st.CREATED), ("ps", st.RUNNING), ("ps", st.PAUSED), ("ps", st.STOPPED),
    ("events", st.CREATED), ("events", st.RUNNING), ("events", st.PAUSED),
}


@pytest.mark.parametrize("operation", sorted(st.ALLOWED))
@pytest.mark.parametrize("status", st.STATUSES)
def test_transition_table(operation, status):
    if (operation, status) in EXPECTED:
        st.check_allowed(operation, status, "c1")
    else:
        with pytest.raises(InvalidState):
            st.check_allowed(operation, status, "c1")


def test_refusal_messages_match_what_callers_parse():
    with pytest.raises(InvalidState, match="container not running"):
        st.check_allowed("kill", st.STOPPED, "c1")
    with pytest.raises(InvalidState, match="use --force"):
        st.check_allowed("delete", st.RUNNING, "c1")


@pytest.mark.parametrize("bad", ["", ".", "..", "../x", "a/b", "/", "a b", "a\x00b", "é", "x" * 1025])
def test_invalid_ids(bad):
    with pytest.raises(OcirtError):
        st.validate_id(bad)


@pytest.mark.parametrize("good", ["a", "c1", "A.b_c+d-e", "0" * 64, "..a"])
def test_valid_ids(good):
    st.validate_id(good)


def test_rfc3339():
    stamp = st.rfc3339_now()
    assert len(stamp) == 30 and stamp.endswith("Z") and stamp[10] == "T"


def test_start_time_identifies_a_process():
    proc = subprocess.Popen(["sleep", "10"])
    try:
        start = st.process_start_time(proc.pid)
        assert start is not None
        assert st.pid_alive(proc.pid, start)
        assert not st.pid_alive(proc.pid, start + 1)  # a recycled pid has another start time
    finally:
        proc.kill()
        proc.wait()
    assert not st.pid_alive(proc.pid, start)


def test_zombie_counts_as_gone():
    proc = subprocess.Popen(["true"])
    start = st.process_start_time(proc.pid)
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # exited, not yet reaped
    try:
        assert st.process_start_time(proc.pid) is None
    finally:
        proc.wait()


def test_derive_status(tmp_path):
    me = os.getpid()
    record = {"status": st.CREATED, "pid": me, "pid_start_time": st.process_start_time(me)}
    (tmp_path / "exec.fifo").write_text("")
    assert st.derive_status(record, str(tmp_path)) == st.CREATED
    (tmp_path / "exec.fifo").unlink()
    assert st.derive_status(record, str(tmp_path)) == st.RUNNING
    assert st.derive_status(record, str(tmp_path), lambda: True) == st.PAUSED
    record["pid_start_time"] += 1
    assert st.derive_status(record, str(tmp_path)) == st.STOPPED


def test_abandoned_exec_fifo(tmp_path):
    """A fifo nobody reads: before `start` (record "created") the init is dying,
    so the container is stopped; after a `start` killed between release and
    unlink (record "running") it is running."""
    me = os.getpid()
    record = {"status": st.CREATED, "pid": me, "pid_start_time": st.process_start_time(me)}
    os.mkfifo(tmp_path / "exec.fifo")
    assert st.derive_status(record, str(tmp_path)) == st.STOPPED
    assert st.derive_status(dict(record, status=st.RUNNING), str(tmp_path)) == st.RUNNING
    reader = os.open(tmp_path / "exec.fifo", os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert st.derive_status(record, str(tmp_path)) == st.CREATED
    finally:
        os.close(reader)


def test_creating_with_dead_creator_reads_stopped(tmp_path):
    me = os.getpid()
    alive = {"status": st.CREATING, "creator_pid": me, "creator_start_time": st.process_start_time(me)}
    assert st.derive_status(alive, str(tmp_path)) == st.CREATING
    dead = dict(alive, creator_start_time=alive["creator_start_time"] + 1)
    assert st.derive_status(dead, str(tmp_path)) == st.STOPPED


def test_store_roundtrip_and_claim(tmp_path):
    store = st.StateStore(str(tmp_path / "root"))
    store.claim("c1")
    with pytest.raises(OcirtError, match="already exists"):
        store.claim("c1")
    record = {"status": st.CREATED, "bundle": "/b", "rootfs": "/b/rootfs", "created": "x", "pid": 1}
    store.save("c1", record)
    assert store.load("c1") == record
    assert store.list_ids() == ["c1"]
    assert not os.path.exists(os.path.join(store.dir("c1"), ".state.json.tmp"))
    store.remove("c1")
    store.remove("c1")  # twice is fine
    with pytest.raises(ContainerNotFound):
        store.load("c1")


def test_lock_is_exclusive_and_bounded(tmp_path):
    store = st.StateStore(str(tmp_path))
    store.claim("c1")
    fd = store.lock("c1")
    try:
        with pytest.raises(OcirtError, match="locked by another"):
            store.lock("c1", timeout=0.05)
    finally:
        os.close(fd)
    os.close(store.lock("c1", timeout=0.05))


def test_corrupt_state_is_reported(tmp_path):
    store = st.StateStore(str(tmp_path))
    store.claim("c1")
    with open(os.path.join(store.dir("c1"), "state.json"), "w") as f:
        f.write("{not json")
    with pytest.raises(OcirtError, match="corrupt"):
        store.load("c1")


def test_foreign_record_is_refused_clearly(tmp_path):
    """containerd shares --root between runtimes: a runc container's state.json
    is not ours and must give a clear error, never a traceback."""
    store = st.StateStore(str(tmp_path))
    store.claim("runc1")
    with open(os.path.join(store.dir("runc1"), "state.json"), "w") as f:
        f.write('{"id": "runc1", "init_process_pid": 42, "config": {}}')
    with pytest.raises(st.ForeignRecord, match="not a state record written by ocirt"):
        store.load("runc1")
