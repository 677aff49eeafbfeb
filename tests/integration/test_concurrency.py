"""Concurrency and load: many containers at once, racing commands on one id,
`list`/`state` readers all the while, bounded lock waits; and a fast slice of the
load runs (sequential containers, many alive at once) checking that nothing leaks
and that ocirt's time and memory per invocation stay flat.

The long runs (1,000 sequential, 100 alive, more racing rounds) reuse these
functions from tests/reliability/ (see docs/reliability.md).
"""
import fcntl
import json
import os
import subprocess
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from conftest import OCIRT, new_id, one_line_error, reap_zombie_children

STATUSES = {"creating", "created", "running", "stopped", "paused"}


# ---------------------------------------------------------------- helpers

def ok(out):
    assert out.returncode == 0 and "Traceback" not in out.stderr, (out.args, out.returncode, out.stderr)
    return out


def parallel(fn, items, workers=None):
    """fn over items in threads; results in order; the first exception is raised."""
    items = list(items)
    with ThreadPoolExecutor(max_workers=workers or max(1, len(items))) as pool:
        return list(pool.map(fn, items))


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def proc_stat(pid):
    """(state letter, ppid) or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    return fields[0].decode(), int(fields[1])


def all_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


BUILDERS = (b"create", b"run", b"exec")


def processes_naming(text):
    """Live processes forked by `ocirt create|run|exec <text>` (the intermediate, an
    init before it execs, an exec helper): they keep the ocirt command line."""
    me = os.getpid()
    return [p for p in all_pids()
            if p != me and text.encode() in cmdline(p) and any(b in cmdline(p) for b in BUILDERS)]


def cgroup_dirs_with(prefix):
    found = []
    for top, dirs, _ in os.walk("/sys/fs/cgroup"):
        found += [os.path.join(top, d) for d in dirs if d.startswith(prefix)]
    return found


def processes_in_cgroups_with(prefix):
    """Live (not zombie) processes in cgroups whose path has `prefix`."""
    found = []
    for pid in all_pids():
        if (proc_stat(pid) or ("Z",))[0] == "Z":
            continue
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                if prefix in f.read():
                    found.append(pid)
        except OSError:
            pass
    return found


def live_children():
    me = os.getpid()
    return [p for p in all_pids() if (proc_stat(p) or ("", 0))[1] == me and proc_stat(p)[0] != "Z"]


def mounts_mentioning(text):
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if text in line]


def own_fds():
    return sorted(int(fd) for fd in os.listdir("/proc/self/fd"))


def wait_for(predicate, timeout=20, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


class Watcher:
    """Runs `list` and `state` against the root in a loop while a test races
    other commands: every answer must parse, name only real statuses and never
    show a traceback or a corrupt record."""

    def __init__(self, ocirt, ids=()):
        self.ocirt = ocirt
        self.ids = list(ids)
        self.errors = []
        self.calls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(120)
        if exc[0] is None:
            assert not self._thread.is_alive(), "list/state watcher hung"
            assert not self.errors, self.errors[:5]
            assert self.calls > 0

    def _loop(self):
        i = 0
        while not self._stop.is_set():
            out = None
            try:
                out = self.ocirt("list", "--format", "json", check=False, timeout=60)
                self.calls += 1
                if out.returncode != 0 or "Traceback" in out.stderr:
                    self.errors.append(("list", out.returncode, out.stderr))
                    continue
                for entry in json.loads(out.stdout):
                    if entry["status"] not in STATUSES:
                        self.errors.append(("list", entry))
                if self.ids:
                    cid = self.ids[i % len(self.ids)]
                    i += 1
                    out = self.ocirt("state", cid, check=False, timeout=60)
                    self.calls += 1
                    if out.returncode == 0:
                        if json.loads(out.stdout)["status"] not in STATUSES:
                            self.errors.append(("state", out.stdout))
                    elif "does not exist" not in out.stderr or "Traceback" in out.stderr \
                            or len(out.stderr.splitlines()) != 1:
                        self.errors.append(("state", out.returncode, out.stderr))
            except Exception as e:  # a timeout (hang) or unparsable output
                self.errors.append(("watcher", repr(e), getattr(out, "args", None), getattr(out, "returncode", None),
                                    getattr(out, "stdout", "")[:300], getattr(out, "stderr", "")[:300]))


def run_prefix(tag):
    """An id prefix of this call alone: the leak checks look for every id with the
    prefix on the whole host, and other test runs may be going on at the same time."""
    return f"ocirt-test-{tag}{uuid.uuid4().hex[:6]}-"


def assert_nothing_left(ocirt, prefix, reap=True):
    """No state dir, cgroup or live process of ids starting with `prefix`;
    reap=False while a Watcher runs (see reap_zombie_children)."""
    if reap:
        reap_zombie_children()
    assert not os.path.isdir(ocirt.root) or os.listdir(ocirt.root) == []
    assert cgroup_dirs_with(prefix) == []
    assert processes_in_cgroups_with(prefix) == []
    assert processes_naming_prefix(prefix) == []


def processes_naming_prefix(prefix, settle=3.0):
    """Live ocirt processes (not zombies: a dead process holds nothing, and this
    sandbox's pid 1 never reaps) whose command line names an id with `prefix`,
    after giving processes that are just exiting `settle` seconds to go."""
    me = os.getpid()

    def live():
        return [p for p in all_pids() if p != me and any(b in cmdline(p) for b in BUILDERS)
                and any(a.startswith(prefix.encode()) for a in cmdline(p)) and not _is_zombie(p)]

    deadline = time.monotonic() + settle
    found = live()
    while found and time.monotonic() < deadline:
        time.sleep(0.05)
        found = live()
    return found


def _is_zombie(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return True  # gone
    return stat[stat.rindex(b")") + 2:stat.rindex(b")") + 3] in (b"Z", b"X")


# ---------------------------------------------------------------- many containers in parallel

def test_parallel_lifecycles(ocirt, make_bundle):
    """50 distinct containers created, started, checked and deleted in parallel,
    all 50 running at the same moment, with list/state readers throughout."""
    count = int(os.environ.get("OCIRT_PARALLEL", "50"))
    parallel_lifecycles(ocirt, make_bundle, count)


def parallel_lifecycles(ocirt, make_bundle, count):
    bundle = make_bundle(["sleep", "1000"])
    prefix = run_prefix("par")
    ids = [prefix + uuid.uuid4().hex[:8] for _ in range(count)]
    barrier = threading.Barrier(count, timeout=300)
    peak = []

    def lifecycle(cid):
        ok(ocirt("create", "--bundle", bundle, cid))
        assert ocirt.state(cid)["status"] == "created"
        ok(ocirt("start", cid))
        state = ocirt.state(cid)
        assert state["status"] == "running" and cmdline(state["pid"])[0] == b"sleep"
        if barrier.wait() == 0:  # one thread looks while all are running
            listed = json.loads(ok(ocirt("list", "--format", "json")).stdout)
            peak.append(sum(1 for s in listed if s["status"] == "running"))
        barrier.wait()
        ok(ocirt("delete", "--force", cid))
        return state["pid"]

    with Watcher(ocirt, ids):
        pids = parallel(lifecycle, ids)
    assert len(set(pids)) == count
    assert peak == [count]
    assert_nothing_left(ocirt, prefix)
    return peak[0]


# ---------------------------------------------------------------- one id, many creators

def test_concurrent_creates_of_one_id(ocirt, make_bundle):
    """runc 1.1.5 lets one of 20 racing creates win but often leaves a loser's init
    and cgroup behind. Exactly one must win; the others say "already exists" and
    leave nothing (and never touch the winner's cgroup)."""
    rounds = int(os.environ.get("OCIRT_RACE_ROUNDS", "3"))
    for _ in range(rounds):
        same_id_race(ocirt, make_bundle, 20)


def same_id_race(ocirt, make_bundle, racers):
    bundle = make_bundle(["sleep", "1000"])
    cid = new_id("race")
    ocirt.ids.add(cid)
    barrier = threading.Barrier(racers, timeout=120)

    def race(_):
        barrier.wait()
        return ocirt("create", "--bundle", bundle, cid, check=False)

    with Watcher(ocirt, [cid]):
        results = parallel(race, range(racers))
    winners = [r for r in results if r.returncode == 0]
    losers = [r for r in results if r.returncode != 0]
    assert len(winners) == 1, [r.stderr for r in results]
    for out in losers:
        line = one_line_error(out)
        assert "already exists" in line, line
    state = ocirt.state(cid)
    assert state["status"] == "created"
    init = state["pid"]
    # The winner's init, and nothing else: no loser's process anywhere, and its cgroup holds only the init.
    assert processes_naming(cid) == [init]
    assert processes_in_cgroups_with(cid) == [init]
    ok(ocirt("start", cid))
    assert ocirt.state(cid)["status"] == "running"
    ok(ocirt("delete", "--force", cid))
    assert_nothing_left(ocirt, cid)


# ---------------------------------------------------------------- commands racing each other

def test_delete_force_races_start(ocirt, make_bundle):
    bundle = make_bundle(["sleep", "1000"])
    rounds = int(os.environ.get("OCIRT_RACE_ROUNDS", "3")) * 3
    with Watcher(ocirt) as watcher:
        for _ in range(rounds):
            cid = new_id("rds")
            watcher.ids.append(cid)
            ok(ocirt("create", "--bundle", bundle, cid))
            barrier = threading.Barrier(2, timeout=60)

            def go(command):
                barrier.wait()
                return ocirt(*command, cid, check=False)

            start, delete = parallel(go, [("start",), ("delete", "--force")])
            ok(delete)
            if start.returncode != 0:
                line = one_line_error(start)
                assert "does not exist" in line or "not running" in line, line
            out = ocirt("state", cid, check=False)
            assert out.returncode != 0 and "does not exist" in out.stderr
            assert_nothing_left(ocirt, cid, reap=False)


def test_kill_races_start(ocirt, make_bundle):
    bundle = make_bundle(["sleep", "1000"])
    rounds = int(os.environ.get("OCIRT_RACE_ROUNDS", "3")) * 3
    with Watcher(ocirt) as watcher:
        for _ in range(rounds):
            cid = new_id("rks")
            watcher.ids.append(cid)
            ok(ocirt("create", "--bundle", bundle, cid))
            pid = ocirt.state(cid)["pid"]
            barrier = threading.Barrier(2, timeout=60)

            def go(command):
                barrier.wait()
                return ocirt(*command, check=False)

            start, kill = parallel(go, [("start", cid), ("kill", cid, "KILL")])
            ok(kill)  # the init is alive when kill looks (created or running), so it is signalled
            if start.returncode != 0:
                line = one_line_error(start)
                assert "not running" in line or "init is gone" in line, line
            wait_for(lambda: ocirt.state(cid)["status"] == "stopped", what=f"{cid} stopped")
            assert ocirt.state(cid)["pid"] == 0
            ok(ocirt("delete", cid))
            assert proc_stat(pid) is None or proc_stat(pid)[0] == "Z"
            assert_nothing_left(ocirt, cid, reap=False)


def test_create_races_delete_force(ocirt, make_bundle):
    """delete --force of an id while it is being created: whichever wins, the end
    is consistent (a container that state can see, or nothing at all)."""
    bundle = make_bundle(["sleep", "1000"])
    rounds = int(os.environ.get("OCIRT_RACE_ROUNDS", "3")) * 3
    with Watcher(ocirt) as watcher:
        for i in range(rounds):
            cid = new_id("rcd")
            ocirt.ids.add(cid)
            watcher.ids.append(cid)
            barrier = threading.Barrier(2, timeout=60)

            def go(command):
                barrier.wait()
                if command == "delete":
                    time.sleep(0.01 * (i % 5))  # land at different steps of the create
                    return ocirt("delete", "--force", cid, check=False)
                return ocirt("create", "--bundle", bundle, cid, check=False)

            create, delete = parallel(go, ["create", "delete"])
            ok(delete)
            out = ocirt("state", cid, check=False)
            if create.returncode == 0 and out.returncode == 0:
                assert json.loads(out.stdout)["status"] == "created"
            else:
                if create.returncode != 0:
                    one_line_error(create)
                assert out.returncode != 0 and "does not exist" in out.stderr, (create.stderr, out.stderr)
            ok(ocirt("delete", "--force", cid))
            assert_nothing_left(ocirt, cid, reap=False)


# ---------------------------------------------------------------- bounded lock waits

def test_lock_waits_are_bounded(ocirt, make_bundle):
    """A container locked by a stuck ocirt: start and delete give up after the
    bound with a clear error; state, list and kill do not wait for the lock."""
    cid = new_id("lock")
    ocirt("create", "--bundle", make_bundle(["sleep", "1000"]), cid)
    env = dict(os.environ, OCIRT_LOCK_TIMEOUT="0.5")
    fd = os.open(os.path.join(ocirt.root, cid), os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        for command in (("start", cid), ("delete", "--force", cid)):
            began = time.monotonic()
            line = one_line_error(ocirt(*command, check=False, env=env, timeout=30))
            took = time.monotonic() - began
            assert "locked by another ocirt process (waited 0.5 s)" in line, line
            assert 0.5 <= took < 10, took
        assert ocirt.state(cid)["status"] == "created"
        assert [s["id"] for s in json.loads(ocirt("list", "--format", "json").stdout)] == [cid]
    finally:
        os.close(fd)
    ocirt("start", cid)
    assert ocirt.state(cid)["status"] == "running"
    ocirt("delete", "--force", cid)


# ---------------------------------------------------------------- load: nothing leaks, nothing grows

TIME = "/usr/bin/time"  # GNU time (Debian package "time"): the max RSS of ocirt alone


def measured(argv, timeout=60):
    """Run one ocirt command; (CompletedProcess, seconds, max RSS in KiB).

    The RSS comes from GNU time, not from our own wait4: a child forked from
    this (large) test process keeps the parent's high-water mark across exec.
    """
    with tempfile.NamedTemporaryFile("w+") as usage, tempfile.TemporaryFile("w+") as out, \
            tempfile.TemporaryFile("w+") as err:
        began = time.monotonic()
        proc = subprocess.run([TIME, "-f", "%M", "-o", usage.name, *argv], stdin=subprocess.DEVNULL,
                              stdout=out, stderr=err, text=True, timeout=timeout)
        elapsed = time.monotonic() - began
        out.seek(0)
        err.seek(0)
        result = subprocess.CompletedProcess(argv, proc.returncode, out.read(), err.read())
        usage.seek(0)
        lines = usage.read().split()
    # time notes "Command exited with non-zero status N" before the figure
    return result, elapsed, int(lines[-1]) if lines else 0


class Figures:
    """Per-invocation time and memory by command, in order."""

    def __init__(self):
        self.samples = {}
        self.lock = threading.Lock()

    def add(self, command, seconds, rss_kib):
        with self.lock:
            self.samples.setdefault(command, []).append((seconds, rss_kib))

    def run(self, ocirt, *args, timeout=60):
        argv = [OCIRT, "--root", ocirt.root, *map(str, args)]
        out, seconds, rss = measured(argv, timeout)
        self.add(args[0], seconds, rss)
        return out

    @staticmethod
    def _median(values):
        values = sorted(values)
        return values[len(values) // 2]

    def summary(self):
        """{command: (count, median s first tenth, last tenth, median KiB first, last)}."""
        out = {}
        for command, samples in self.samples.items():
            tenth = max(1, len(samples) // 10)
            first, last = samples[:tenth], samples[-tenth:]
            out[command] = (len(samples), self._median([s for s, _ in first]), self._median([s for s, _ in last]),
                            self._median([m for _, m in first]), self._median([m for _, m in last]))
        return out

    def assert_flat(self):
        for command, (n, t_first, t_last, m_first, m_last) in self.summary().items():
            # Time is noisy on a shared machine: a leak shows as steady growth, so allow 50 % + 20 ms.
            assert t_last <= t_first * 1.5 + 0.02, (command, t_first, t_last)
            assert m_last <= m_first + 2048, (command, m_first, m_last)


def leak_snapshot(tmp_path):
    return {"fds": own_fds(), "mounts": len(mounts_mentioning(str(tmp_path)))}


def sequential_load(ocirt, make_bundle, tmp_path, count):
    """`count` containers one after another: create, start, state, delete."""
    bundle = make_bundle(["sleep", "1000"])
    figures = Figures()
    before = leak_snapshot(tmp_path)
    prefix = run_prefix("seq")
    for _ in range(count):
        cid = prefix + uuid.uuid4().hex[:8]
        ocirt.ids.add(cid)
        ok(figures.run(ocirt, "create", "--bundle", bundle, cid))
        ok(figures.run(ocirt, "start", cid))
        state = json.loads(ok(figures.run(ocirt, "state", cid)).stdout)
        assert state["status"] == "running"
        ok(figures.run(ocirt, "delete", "--force", cid))
        assert not os.path.exists(os.path.join(ocirt.root, cid))
    reap_zombie_children()
    assert leak_snapshot(tmp_path) == before
    assert live_children() == []
    assert_nothing_left(ocirt, prefix)
    figures.assert_flat()
    return figures


def test_sequential_containers(ocirt, make_bundle, tmp_path):
    count = int(os.environ.get("OCIRT_SEQUENTIAL", "100"))
    figures = sequential_load(ocirt, make_bundle, tmp_path, count)
    print("sequential", count, figures.summary())


def alive_load(ocirt, make_bundle, tmp_path, count, workers=8):
    """`count` containers running at the same time; each init holds only its stdio."""
    bundle = make_bundle(["sleep", "1000"])
    figures = Figures()
    before = leak_snapshot(tmp_path)
    prefix = run_prefix("alive")
    ids = [prefix + uuid.uuid4().hex[:8] for _ in range(count)]
    ocirt.ids.update(ids)

    def up(cid):
        ok(figures.run(ocirt, "run", "--detach", "--bundle", bundle, cid))
        return cid

    parallel(up, ids, workers)
    listed = json.loads(ok(ocirt("list", "--format", "json")).stdout)
    assert sorted(s["id"] for s in listed) == sorted(ids)
    assert {s["status"] for s in listed} == {"running"}
    for s in listed:
        # No fd of ocirt's leaks into the container: sleep holds stdin, stdout, stderr only.
        assert sorted(map(int, os.listdir(f"/proc/{s['pid']}/fd"))) == [0, 1, 2], s
        assert cmdline(s["pid"])[0] == b"sleep"
    # Commands on one container stay quick with many others alive.
    ok(figures.run(ocirt, "exec", ids[0], "true"))
    parallel(lambda cid: ok(figures.run(ocirt, "delete", "--force", cid)), ids, workers)
    reap_zombie_children()
    assert leak_snapshot(tmp_path) == before
    assert live_children() == []
    assert_nothing_left(ocirt, prefix)
    return figures


def test_many_alive_at_once(ocirt, make_bundle, tmp_path):
    count = int(os.environ.get("OCIRT_ALIVE", "20"))
    figures = alive_load(ocirt, make_bundle, tmp_path, count)
    print("alive", count, figures.summary())
