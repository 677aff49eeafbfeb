"""Bad input through the CLI: every case is one ocirt call that must fail with a
non-zero exit code, exactly one line on stderr naming the problem, no Python
traceback, and leave nothing behind (no state dir under --root; the autouse
`no_leaks` fixture checks cgroups, mounts and processes).

Config errors read "ocirt: config.json: <json path>: <reason>".
"""
import json
import os
import re
import resource
import signal
import time
from datetime import datetime, timezone

import pytest

from conftest import new_id

EXIT_USAGE = 3
OUR_NOFILE_HARD = resource.getrlimit(resource.RLIMIT_NOFILE)[1]


# ---------------------------------------------------------------- helpers

def failure_line(out, code=1):
    """The one stderr line of a failed call (asserting everything else about it)."""
    assert out.returncode == code, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr, out.stderr
    assert out.stdout == ""
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and out.stderr.endswith("\n"), out.stderr
    assert lines[0].startswith("ocirt: "), lines[0]
    return lines[0]


def config_error(out, path):
    """A config error: "ocirt: config.json: <path>: <reason>"; returns the reason."""
    line = failure_line(out)
    prefix = f"ocirt: config.json: {path}: " if path else "ocirt: config.json: "
    assert line.startswith(prefix), line
    return line[len(prefix):]


def assert_nothing_left(ocirt):
    """No state dir (nor anything else) under --root."""
    assert not os.path.exists(ocirt.root) or os.listdir(ocirt.root) == [], os.listdir(ocirt.root)


def create(ocirt, bundle, cid=None):
    return ocirt("create", "--bundle", bundle, cid or new_id(), check=False)


def write_raw_bundle(tmp_path, name, data, rootfs):
    """A bundle whose config.json holds exactly `data` (bytes or str)."""
    bundle = tmp_path / name
    bundle.mkdir()
    if isinstance(data, str):
        data = data.encode()
    (bundle / "config.json").write_bytes(data)
    return str(bundle)


def wait_status(ocirt, cid, status, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ocirt.state(cid)["status"] == status:
            return
        time.sleep(0.01)
    raise AssertionError(f"{cid} never reached {status}: {ocirt.state(cid)}")


def set_at(path, value):
    """An edit= function setting config[path...] = value."""
    def edit(config):
        target = config
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return edit


def delete_at(path):
    def edit(config):
        target = config
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return edit


def append_at(path, value):
    """An edit= function appending value to the list at config[path...] (made if missing)."""
    def edit(config):
        target = config
        for key in path[:-1]:
            target = target.setdefault(key, {})
        target.setdefault(path[-1], []).append(value)
    return edit


# ---------------------------------------------------------------- malformed config.json

MALFORMED = [
    # (name, file contents, expected line and column)
    ("syntax", '{\n  "ociVersion": "1.0.2",\n  "process": {,}\n}\n', (3, 15)),
    ("truncated", '{\n  "ociVersion": "1.0.2",\n  "process": {"args": ["sh"', (3, 28)),
    ("empty", "", (1, 1)),
    ("trailing-garbage", '{"ociVersion": "1.0.2"} x', (1, 25)),
]


@pytest.mark.parametrize("name, text, where", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_json(ocirt, tmp_path, busybox_rootfs, name, text, where):
    out = create(ocirt, write_raw_bundle(tmp_path, "b", text, busybox_rootfs))
    reason = config_error(out, None)
    assert reason.startswith(f"invalid JSON at line {where[0]} column {where[1]}: "), reason
    assert_nothing_left(ocirt)


def test_config_that_is_not_utf8(ocirt, tmp_path, busybox_rootfs):
    out = create(ocirt, write_raw_bundle(tmp_path, "b", b'{"ociVersion": "1.0.2", "x": "\xff\xfe"}', busybox_rootfs))
    assert "not UTF-8" in config_error(out, None)
    assert_nothing_left(ocirt)


def test_config_that_is_not_an_object(ocirt, tmp_path, busybox_rootfs):
    out = create(ocirt, write_raw_bundle(tmp_path, "b", "[1, 2]", busybox_rootfs))
    assert "is not of type 'object'" in config_error(out, None)
    assert_nothing_left(ocirt)


# ---------------------------------------------------------------- schema and semantic errors

INVALID = [
    # (id, edit, JSON path in the message, a word the reason must contain)
    ("args-wrong-type", set_at(["process", "args"], "sh -c true"), "process.args", "not of type 'array'"),
    ("cwd-wrong-type", set_at(["process", "cwd"], 5), "process.cwd", "not of type 'string'"),
    ("terminal-wrong-type", set_at(["process", "terminal"], "yes"), "process.terminal", "not of type 'boolean'"),
    ("uid-float", set_at(["process", "user", "uid"], 1.5), "process.user.uid", "not of type 'integer'"),
    ("args-empty", set_at(["process", "args"], []), "process.args", "non-empty"),
    ("missing-process", delete_at(["process"]), None, "'process' is a required property"),
    ("missing-root", delete_at(["root"]), None, "'root' is a required property"),
    ("missing-root-path", delete_at(["root", "path"]), "root", "'path' is a required property"),
    ("missing-ociVersion", delete_at(["ociVersion"]), None, "'ociVersion' is a required property"),
    ("unsupported-ociVersion", set_at(["ociVersion"], "2.0.0"), "ociVersion", "not supported"),
    ("bad-namespace-type", append_at(["linux", "namespaces"], {"type": "net"}), "linux.namespaces[6].type",
     "'net' is not one of"),
    ("duplicate-namespace", append_at(["linux", "namespaces"], {"type": "pid"}), "linux.namespaces[6].type",
     "duplicate namespace 'pid'"),
    ("relative-namespace-path", append_at(["linux", "namespaces"], {"type": "user", "path": "proc/1/ns/user"}),
     "linux.namespaces[6].path", "not an absolute path"),
    ("unknown-capability", append_at(["process", "capabilities", "bounding"], "CAP_FLY"),
     "process.capabilities.bounding[3]", "unknown capability 'CAP_FLY'"),
    ("lowercase-capability", append_at(["process", "capabilities", "effective"], "cap_kill"),
     "process.capabilities.effective[3]", "unknown capability 'cap_kill'"),
    ("unknown-rlimit", append_at(["process", "rlimits"], {"type": "RLIMIT_FOO", "soft": 1, "hard": 1}),
     "process.rlimits[1].type", "unknown rlimit 'RLIMIT_FOO'"),
    ("duplicate-rlimit", append_at(["process", "rlimits"], {"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1}),
     "process.rlimits[1].type", "duplicate rlimit"),
    ("rlimit-soft-above-hard", set_at(["process", "rlimits"], [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}]),
     "process.rlimits[0]", "greater than hard limit"),
    ("negative-uid", set_at(["process", "user", "uid"], -1), "process.user.uid", "less than the minimum of 0"),
    ("negative-cpu-shares", set_at(["linux", "resources", "cpu"], {"shares": -5}),
     "linux.resources.cpu.shares", "less than the minimum of 0"),
    ("negative-memory-limit", set_at(["linux", "resources", "memory"], {"limit": -5}),
     "linux.resources.memory.limit", "-1 for unlimited"),
    ("negative-hook-timeout", set_at(["hooks"], {"poststop": [{"path": "/bin/true", "timeout": -1}]}),
     "hooks.poststop[0].timeout", "less than the minimum of 1"),
    ("huge-uid", set_at(["process", "user", "uid"], 10 ** 30), "process.user.uid", "greater than the maximum"),
    ("huge-rlimit", set_at(["process", "rlimits"], [{"type": "RLIMIT_CORE", "soft": 2 ** 64, "hard": 2 ** 64}]),
     "process.rlimits[0].soft", "greater than the maximum"),
    ("huge-memory-limit", set_at(["linux", "resources", "memory"], {"limit": 2 ** 63}),
     "linux.resources.memory.limit", "greater than the maximum"),
    ("relative-cwd", set_at(["process", "cwd"], "tmp"), "process.cwd", "not an absolute path"),
    ("relative-hook-path", set_at(["hooks"], {"prestart": [{"path": "true"}]}), "hooks.prestart[0].path",
     "not an absolute path"),
    ("nul-in-args", set_at(["process", "args"], ["sh", "-c", "echo a\0b"]), "process.args[2]", "NUL"),
    ("nul-in-env", set_at(["process", "env"], ["A=1\0B=2"]), "process.env[0]", "NUL"),
    ("nul-in-hostname", set_at(["hostname"], "ab\0cd"), "hostname", "NUL"),
    ("nul-in-mount-destination", append_at(["mounts"], {"destination": "/mnt\0x", "type": "tmpfs", "source": "t"}),
     "mounts[7].destination", "NUL"),
    ("hostname-too-long", set_at(["hostname"], "h" * 65), "hostname", "at most 64"),
    ("unicode-hostname-too-long", set_at(["hostname"], "\u00e9" * 33), "hostname", "66 bytes"),
    ("missing-relative-bind-source", append_at(["mounts"], {"destination": "/mnt", "type": "bind",
                                                           "source": "no/such/dir", "options": ["rbind"]}),
     "mounts[7].source", "does not exist"),
    ("missing-absolute-bind-source", append_at(["mounts"], {"destination": "/mnt", "type": "none",
                                                           "source": "/no/such/dir", "options": ["bind"]}),
     "mounts[7].source", "does not exist"),
    ("seccomp-unknown-action", set_at(["linux", "seccomp"], {"defaultAction": "SCMP_ACT_MAYBE"}),
     "linux.seccomp.defaultAction", "'SCMP_ACT_MAYBE' is not one of"),
    ("seccomp-unknown-arch", set_at(["linux", "seccomp"], {"defaultAction": "SCMP_ACT_ALLOW",
                                                          "architectures": ["SCMP_ARCH_Z80"]}),
     "linux.seccomp.architectures[0]", "'SCMP_ARCH_Z80' is not one of"),
    ("seccomp-arg-index", set_at(["linux", "seccomp"], {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}),
     "linux.seccomp.syscalls[0].args[0].index", "6"),
    ("mappings-without-userns", set_at(["linux", "uidMappings"], [{"containerID": 0, "hostID": 1000, "size": 1}]),
     "linux.uidMappings", "user namespace"),
]


@pytest.mark.parametrize("edit, path, reason", [i[1:] for i in INVALID], ids=[i[0] for i in INVALID])
def test_invalid_config(ocirt, make_bundle, edit, path, reason):
    out = create(ocirt, make_bundle(["true"], edit=edit))
    assert reason in config_error(out, path)
    assert_nothing_left(ocirt)


def test_lone_surrogate_in_args(ocirt, tmp_path, busybox_rootfs):
    """JSON can spell a lone UTF-16 surrogate ("\\ud800"): not valid Unicode, so not encodable."""
    text = json.dumps({"ociVersion": "1.0.2", "root": {"path": busybox_rootfs},
                       "process": {"args": ["sh", "-c", "echo X"], "cwd": "/"}})
    text = text.replace("echo X", "echo \\ud800")
    out = create(ocirt, write_raw_bundle(tmp_path, "b", text, busybox_rootfs))
    assert "surrogate" in config_error(out, "process.args[2]")
    assert_nothing_left(ocirt)


ODD_BUT_VALID = "r\u00e9sum\u00e9 \u202eevil\u202c e\u0301 \U0001f600 \u4e2d"


def test_odd_but_valid_unicode_passes_through(ocirt, make_bundle):
    """The counterpart: valid Unicode (RTL override, combining marks, emoji, CJK)
    in args, env and hostname is not refused and arrives intact."""
    def edit(config):
        config["process"]["env"].append("ODD=" + ODD_BUT_VALID)
        config["hostname"] = "h\u00e9\u4e2d"
    bundle = make_bundle(["sh", "-c", 'printf "%s|%s|%s\\n" "$1" "$ODD" "$(hostname)"', "sh", ODD_BUT_VALID],
                         edit=edit)
    out = ocirt("run", "--bundle", bundle, new_id(), check=False)
    assert (out.returncode, out.stderr) == (0, "")
    assert out.stdout == f"{ODD_BUT_VALID}|{ODD_BUT_VALID}|h\u00e9\u4e2d\n"
    assert_nothing_left(ocirt)


# ---------------------------------------------------------------- the bundle itself

def test_missing_config_json(ocirt, tmp_path):
    (tmp_path / "empty-bundle").mkdir()
    line = failure_line(create(ocirt, str(tmp_path / "empty-bundle")))
    assert f"{tmp_path}/empty-bundle/config.json" in line and "No such file" in line
    assert_nothing_left(ocirt)


def test_config_json_is_a_directory(ocirt, tmp_path):
    (tmp_path / "b" / "config.json").mkdir(parents=True)
    line = failure_line(create(ocirt, str(tmp_path / "b")))
    assert "config.json" in line and "Is a directory" in line
    assert_nothing_left(ocirt)


@pytest.mark.parametrize("kind", ["regular-file", "missing"])
def test_bundle_is_not_a_directory(ocirt, tmp_path, kind):
    bundle = tmp_path / "bundle"
    if kind == "regular-file":
        bundle.write_text("{}")
    line = failure_line(create(ocirt, str(bundle)))
    assert str(bundle) in line and "not a directory" in line
    assert_nothing_left(ocirt)


@pytest.mark.parametrize("kind", ["missing", "regular-file"])
def test_rootfs_is_not_a_directory(ocirt, make_bundle, tmp_path, kind):
    rootfs = tmp_path / "rootfs"
    if kind == "regular-file":
        rootfs.write_text("")
    out = create(ocirt, make_bundle(["true"], rootfs=str(rootfs)))
    assert str(rootfs) in config_error(out, "root.path")
    assert_nothing_left(ocirt)


# ---------------------------------------------------------------- container ids

OPERATIONS = [
    ("start",), ("state",), ("kill",), ("kill", "--all"), ("delete",), ("pause",), ("resume",), ("ps",),
    ("ps", "--format", "json"),
]


@pytest.mark.parametrize("op", OPERATIONS, ids=" ".join)
def test_unknown_container(ocirt, op):
    cid = new_id("unknown")
    line = failure_line(ocirt(*op, cid, check=False))
    assert line == f"ocirt: container {cid!r} does not exist"
    assert_nothing_left(ocirt)


def test_unknown_container_with_existing_root(ocirt, make_bundle):
    """The same when --root exists and holds another container."""
    other = new_id()
    ocirt("create", "--bundle", make_bundle(["true"]), other)
    cid = new_id("unknown")
    for op in OPERATIONS:
        line = failure_line(ocirt(*op, cid, check=False))
        assert line == f"ocirt: container {cid!r} does not exist", op
    assert os.listdir(ocirt.root) == [other]
    ocirt("delete", "--force", other)


BAD_IDS = ["../x", "a/b", "..", ".", "", "x y", "a" * 2000, "\u00e9t\u00e9", "\u5bb9\u5668", "x\ny", "x:y",
           "/abs"]
BAD_ID_NAMES = ["dotdot-slash", "slash", "dotdot", "dot", "empty", "space", "2000-chars", "accents", "cjk",
                "newline", "colon", "absolute"]


@pytest.mark.parametrize("cid", BAD_IDS, ids=BAD_ID_NAMES)
def test_invalid_id_on_create(ocirt, make_bundle, tmp_path, cid):
    before = set(os.listdir(tmp_path))
    out = ocirt("create", "--bundle", make_bundle(["true"]), "--", cid, check=False)
    # no_leaks matches cgroup names by prefix ("" would match them all): clean up here instead.
    ocirt.ids.discard(cid)
    if out.returncode == 0:
        ocirt("delete", "--force", "--", cid, check=False)
    line = failure_line(out)
    assert "container id" in line
    if len(cid) < 100:
        assert repr(cid) in line or "must not be empty" in line
    assert_nothing_left(ocirt)
    assert set(os.listdir(tmp_path)) - before == {"bundle1"}  # nothing made beside --root either


@pytest.mark.parametrize("op", [("start",), ("state",), ("kill",), ("delete",), ("delete", "--force"),
                                ("pause",), ("resume",), ("ps",)], ids=" ".join)
@pytest.mark.parametrize("cid", ["../x", "", "a" * 2000, "\u5bb9\u5668"], ids=["dotdot-slash", "empty",
                                                                             "2000-chars", "cjk"])
def test_invalid_id_on_other_operations(ocirt, op, cid):
    line = failure_line(ocirt(*op, "--", cid, check=False))
    assert "container id" in line
    assert_nothing_left(ocirt)


def test_duplicate_id_leaves_the_first_container_alone(ocirt, make_bundle):
    cid = new_id()
    first = make_bundle(["sleep", "1000"])
    ocirt("create", "--bundle", first, cid)
    before = ocirt.state(cid)
    with open(os.path.join(ocirt.root, cid, "state.json"), "rb") as f:
        record = f.read()
    line = failure_line(create(ocirt, make_bundle(["true"]), cid))
    assert line == f"ocirt: container {cid!r} already exists"
    assert ocirt.state(cid) == before
    assert before["status"] == "created" and before["bundle"] == first
    with open(os.path.join(ocirt.root, cid, "state.json"), "rb") as f:
        assert f.read() == record
    os.kill(before["pid"], 0)  # its init still lives
    ocirt("start", cid)
    assert ocirt.state(cid)["status"] == "running"
    ocirt("delete", "--force", cid)


def test_duplicate_id_on_run(ocirt, make_bundle):
    cid = new_id()
    ocirt("run", "--detach", "--bundle", make_bundle(["sleep", "1000"]), cid)
    before = ocirt.state(cid)
    line = failure_line(ocirt("run", "--bundle", make_bundle(["true"]), cid, check=False))
    assert line == f"ocirt: container {cid!r} already exists"
    assert ocirt.state(cid) == before and before["status"] == "running"
    ocirt("delete", "--force", cid)


# ---------------------------------------------------------------- signals

@pytest.fixture
def running(ocirt, make_bundle):
    """A running container; yields its id and init pid, deletes it afterwards."""
    cid = new_id()
    ocirt("run", "--detach", "--bundle", make_bundle(["sleep", "1000"]), cid)
    state = ocirt.state(cid)
    assert state["status"] == "running"
    yield cid, state["pid"]
    ocirt("delete", "--force", cid)


# ("" is not here: like runc, ocirt takes an empty signal as the default, SIGTERM.)
BAD_SIGNALS = ["SIGFOO", "FOO", "99", "65", "SIGRTMIN+31", "SIGRTMAX-31", "KILL9", "9x", " 9", "\u0669"]


@pytest.mark.parametrize("sig", BAD_SIGNALS, ids=lambda s: repr(s))
def test_unknown_signal(ocirt, running, sig):
    cid, pid = running
    line = failure_line(ocirt("kill", cid, sig, check=False))
    assert line == f"ocirt: unknown signal {sig!r}"
    state = ocirt.state(cid)
    assert (state["status"], state["pid"]) == ("running", pid)


def test_negative_signal_number(ocirt, running):
    """`kill ID -1` reads -1 as an option (usage error, like runc); after `--` it is an unknown signal."""
    cid, pid = running
    line = failure_line(ocirt("kill", cid, "-1", check=False), code=EXIT_USAGE)
    assert "-1" in line
    line = failure_line(ocirt("kill", "--", cid, "-1", check=False))
    assert line == "ocirt: unknown signal '-1'"
    state = ocirt.state(cid)
    assert (state["status"], state["pid"]) == ("running", pid)


def test_kill_a_stopped_container(ocirt, make_bundle):
    """A stopped container cannot receive a signal: say so (and `kill --all` stays a no-op success)."""
    cid = new_id()
    ocirt("run", "--detach", "--bundle", make_bundle(["true"]), cid)
    wait_status(ocirt, cid, "stopped")
    line = failure_line(ocirt("kill", cid, "KILL", check=False))
    assert "not running" in line and cid in line
    ocirt("kill", "--all", cid, "KILL")
    assert ocirt.state(cid)["status"] == "stopped"
    ocirt("delete", cid)


# ---------------------------------------------------------------- operations in the wrong state

def test_start_twice(ocirt, running):
    cid, pid = running
    line = failure_line(ocirt("start", cid, check=False))
    assert line == f"ocirt: cannot start container {cid!r}: container is running"
    state = ocirt.state(cid)
    assert (state["status"], state["pid"]) == ("running", pid)
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[0] == b"sleep"


def test_start_a_stopped_container(ocirt, make_bundle):
    cid = new_id()
    ocirt("run", "--detach", "--bundle", make_bundle(["true"]), cid)
    wait_status(ocirt, cid, "stopped")
    line = failure_line(ocirt("start", cid, check=False))
    assert line == f"ocirt: cannot start container {cid!r}: container not running"
    assert ocirt.state(cid)["status"] == "stopped"
    ocirt("delete", cid)


def test_pause_a_created_container(ocirt, make_bundle):
    cid = new_id()
    ocirt("create", "--bundle", make_bundle(["sleep", "1000"]), cid)
    before = ocirt.state(cid)
    line = failure_line(ocirt("pause", cid, check=False))
    assert line == f"ocirt: cannot pause container {cid!r}: container has not been started"
    assert ocirt.state(cid) == before and before["status"] == "created"
    ocirt("start", cid)  # still startable: the exec fifo is intact
    assert ocirt.state(cid)["status"] == "running"
    ocirt("delete", "--force", cid)


def test_resume_a_running_container(ocirt, running):
    cid, pid = running
    line = failure_line(ocirt("resume", cid, check=False))
    assert line == f"ocirt: cannot resume container {cid!r}: container is running"
    state = ocirt.state(cid)
    assert (state["status"], state["pid"]) == ("running", pid)


def test_pause_a_paused_container(ocirt, running):
    cid, pid = running
    ocirt("pause", cid)
    line = failure_line(ocirt("pause", cid, check=False))
    assert line == f"ocirt: cannot pause container {cid!r}: container is paused"
    assert ocirt.state(cid)["status"] == "paused"
    ocirt("resume", cid)
    assert ocirt.state(cid)["status"] == "running"


@pytest.mark.parametrize("status", ["created", "running", "paused"])
def test_delete_without_force(ocirt, make_bundle, status):
    cid = new_id()
    ocirt("create", "--bundle", make_bundle(["sleep", "1000"]), cid)
    if status != "created":
        ocirt("start", cid)
    if status == "paused":
        ocirt("pause", cid)
    before = ocirt.state(cid)
    line = failure_line(ocirt("delete", cid, check=False))
    assert line == f"ocirt: cannot delete container {cid!r} that is {status}: stop it first or use --force"
    assert ocirt.state(cid) == before and before["status"] == status
    os.kill(before["pid"], 0)
    ocirt("delete", "--force", cid)
    assert_nothing_left(ocirt)


def test_ps_of_a_stopped_container(ocirt, make_bundle):
    cid = new_id()
    ocirt("run", "--detach", "--bundle", make_bundle(["true"]), cid)
    wait_status(ocirt, cid, "stopped")
    try:
        assert ocirt("ps", "--format", "json", cid).stdout.strip() in ("[]", "null")
        out = ocirt("ps", cid, check=False)
        assert (out.returncode, out.stderr) == (0, "")
        assert out.stdout.split()[:2] == ["UID", "PID"] and len(out.stdout.splitlines()) == 1
    finally:
        ocirt("delete", cid)


# ---------------------------------------------------------------- command line

@pytest.mark.parametrize("value", ["abc", "-1", "", "1.5", "0x3"])
def test_bad_preserve_fds(ocirt, make_bundle, value):
    out = ocirt("run", "--preserve-fds", value, "--bundle", make_bundle(["true"]), new_id(), check=False)
    line = failure_line(out, code=EXIT_USAGE)
    assert "--preserve-fds" in line
    assert_nothing_left(ocirt)


def test_preserve_fds_beyond_the_fd_limit(ocirt, make_bundle):
    out = ocirt("run", "--preserve-fds", "100000", "--bundle", make_bundle(["true"]), new_id(), check=False)
    assert "--preserve-fds" in failure_line(out, code=EXIT_USAGE)
    assert_nothing_left(ocirt)


def _kill_holders_of(directory):
    """Kill processes that hold an fd under `directory` (an init that inherited ocirt's lock)."""
    killed = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            held = any(os.readlink(f"/proc/{pid}/fd/{fd}").startswith(directory + "/") for fd in fds)
        except OSError:
            continue
        if held and int(pid) != os.getpid():
            os.kill(int(pid), signal.SIGKILL)
            killed.append(int(pid))
    return killed


def test_preserve_fds_more_than_passed(ocirt, make_bundle):
    """runc passes whatever is open at 3..3+N-1; fds the caller did not open are simply absent."""
    cid = new_id()
    try:
        out = ocirt("run", "--preserve-fds", "2", "--bundle", make_bundle(["sh", "-c", "echo ok"]), cid,
                    check=False, timeout=5)
    finally:
        if _kill_holders_of(os.path.join(ocirt.root, cid)):
            ocirt("delete", "--force", cid, check=False)
    assert (out.returncode, out.stdout, out.stderr) == (0, "ok\n", "")
    assert_nothing_left(ocirt)


USAGE_ERRORS = [
    (["frob"], "unknown command 'frob'"),
    (["--frob", "state", "x"], "--frob"),
    (["state", "--frob", "x"], "--frob"),
    (["create", "--bundle"], "--bundle"),
    (["create"], "container id"),
    (["state"], "container id"),
    (["state", "a", "b"], "'b'"),
    (["delete", "--force=maybe", "x"], "--force"),
    (["kill", "--all=yes", "x"], "--all"),
    (["--log-format", "yaml", "state", "x"], "yaml"),
    (["ps", "--format", "xml", "x"], "xml"),
    (["list", "--format", "xml"], "xml"),
    ([], "usage"),
]


@pytest.mark.parametrize("argv, word", USAGE_ERRORS, ids=[" ".join(a) or "no-arguments" for a, _ in USAGE_ERRORS])
def test_usage_errors(ocirt, argv, word):
    out = ocirt(*argv, check=False)
    assert out.returncode == EXIT_USAGE, (out.returncode, out.stderr)
    assert "Traceback" not in out.stderr
    if argv:
        line = failure_line(out, code=EXIT_USAGE)
        assert word in line
    else:  # like runc: the usage text, on stdout, and exit 3
        assert word in out.stdout.lower()
    assert_nothing_left(ocirt)


# ---------------------------------------------------------------- --log-format json

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def json_log_cases(make_bundle, tmp_path):
    bad = make_bundle(["true"], edit=set_at(["process", "args"], []))
    return {
        "config-error": (["create", "--bundle", bad, new_id()], 1),
        "unknown-container": (["state", new_id("unknown")], 1),
        "unknown-command": (["frob"], EXIT_USAGE),
        "late-failure": (["create", "--bundle",
                          make_bundle(["true"], edit=append_at(["mounts"], {"destination": "/mnt",
                                                                            "type": "nosuchfs",
                                                                            "source": "x"})),
                          new_id()], 1),
    }


@pytest.mark.parametrize("case", ["config-error", "unknown-container", "unknown-command", "late-failure"])
@pytest.mark.parametrize("form", [("--log-format", "json"), ("--log-format=json",)], ids=["space", "equals"])
def test_json_log_on_failure(ocirt, make_bundle, tmp_path, case, form):
    argv, code = json_log_cases(make_bundle, tmp_path)[case]
    log = tmp_path / "log.json"
    out = ocirt(*argv, check=False, global_args=("--log", str(log), *form))
    line = failure_line(out, code=code)
    entries = log.read_text().splitlines()
    assert len(entries) == 1, entries
    entry = json.loads(entries[0])
    assert entry["level"] == "error"
    assert entry["msg"] == line[len("ocirt: "):]
    assert RFC3339.match(entry["time"]), entry["time"]
    when = datetime.strptime(entry["time"][:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    assert abs((datetime.now(timezone.utc) - when).total_seconds()) < 60
    assert_nothing_left(ocirt)


def test_json_log_appends(ocirt, tmp_path):
    """containerd keeps one log.json per container: ocirt appends, never truncates."""
    log = tmp_path / "log.json"
    log.write_text('{"level":"info","msg":"earlier","time":"2020-01-01T00:00:00Z"}\n')
    failure_line(ocirt("state", new_id("unknown"), check=False,
                       global_args=("--log", str(log), "--log-format", "json")))
    lines = log.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["msg"] == "earlier"
    assert json.loads(lines[1])["level"] == "error"


# ---------------------------------------------------------------- an unusable --root

def test_root_under_a_regular_file_on_create(ocirt, make_bundle, tmp_path):
    (tmp_path / "plain").write_text("")
    root = tmp_path / "plain" / "root"
    out = ocirt("create", "--bundle", make_bundle(["true"]), new_id(), check=False,
                global_args=("--root", str(root)))
    line = failure_line(out)
    assert str(root) in line and "Not a directory" in line
    assert (tmp_path / "plain").read_text() == ""


def test_root_is_a_regular_file_on_create(ocirt, make_bundle, tmp_path):
    root = tmp_path / "plain"
    root.write_text("")
    out = ocirt("create", "--bundle", make_bundle(["true"]), new_id(), check=False,
                global_args=("--root", str(root)))
    line = failure_line(out)
    assert str(root) in line
    assert root.read_text() == ""


@pytest.mark.parametrize("op", [("state",), ("kill",), ("start",), ("pause",), ("resume",), ("ps",), ("list",)],
                         ids=" ".join)
def test_root_under_a_regular_file_on_other_operations(ocirt, tmp_path, op):
    (tmp_path / "plain").write_text("")
    argv = [*op] if op == ("list",) else [*op, new_id()]
    out = ocirt(*argv, check=False, global_args=("--root", str(tmp_path / "plain" / "root")))
    failure_line(out)


# ---------------------------------------------------------------- failures late in create (the undo path)

LATE = [
    # (id, edit, args, JSON path the message names, words it must contain)
    ("unknown-filesystem", append_at(["mounts"], {"destination": "/mnt", "type": "nosuchfs", "source": "x"}),
     ["true"], "mounts[7]", ["nosuchfs", "/mnt"]),
    ("missing-sysctl", set_at(["linux", "sysctl"], {"kernel.no_such_knob": "1"}), ["true"], None,
     ["kernel.no_such_knob"]),
    ("missing-args0-absolute", None, ["/no/such/program"], None, ["/no/such/program"]),
    ("missing-args0-in-path", None, ["no-such-program"], None, ["no-such-program"]),
    ("oom-score-adj-below-zero", set_at(["process", "oomScoreAdj"], -500), ["true"], "process.oomScoreAdj",
     ["CAP_SYS_RESOURCE"]),
    # raising a hard limit needs CAP_SYS_RESOURCE, which this host does not give
    ("rlimit-above-our-hard-limit", set_at(["process", "rlimits"], [{"type": "RLIMIT_NOFILE", "soft": 1024,
                                                                     "hard": OUR_NOFILE_HARD + 1}]), ["true"],
     None, ["RLIMIT_NOFILE", str(OUR_NOFILE_HARD + 1)]),
    ("namespace-path-missing", append_at(["linux", "namespaces"], {"type": "user", "path": "/proc/0/ns/user"}),
     ["true"], None, ["/proc/0/ns/user"]),
    ("namespace-path-not-a-namespace", set_at(["linux", "namespaces"], [{"type": "pid"}, {"type": "mount"}, {"type": "uts"},
                                                                        {"type": "network", "path": "/etc/hostname"}]),
     ["true"], None, ["/etc/hostname"]),
    ("failing-createRuntime-hook", set_at(["hooks"], {"createRuntime": [{"path": "/bin/false"}]}), ["true"],
     None, ["createRuntime", "/bin/false"]),
    ("failing-prestart-hook", set_at(["hooks"], {"prestart": [{"path": "/no/such/hook"}]}), ["true"],
     None, ["prestart", "/no/such/hook"]),
    ("bad-uid-map", lambda c: c["linux"].update(
        namespaces=c["linux"]["namespaces"] + [{"type": "user"}],
        uidMappings=[{"containerID": 0, "hostID": 4294967290, "size": 100}],
        gidMappings=[{"containerID": 0, "hostID": 0, "size": 1}]), ["true"], "linux.uidMappings", ["uid_map"]),
]


@pytest.mark.parametrize("edit, args, path, words", [c[1:] for c in LATE], ids=[c[0] for c in LATE])
def test_late_failure_leaves_nothing(ocirt, make_bundle, edit, args, path, words):
    out = create(ocirt, make_bundle(args, edit=edit))
    line = failure_line(out)
    for word in words:
        assert word in line, line
    if path:
        assert path in line, line
    assert_nothing_left(ocirt)


LATE_CONFIG_PREFIX = [
    pytest.param("unknown-filesystem", "mounts[7]"),
    pytest.param("missing-sysctl", 'linux.sysctl["kernel.no_such_knob"]'),
    pytest.param("rlimit-above-our-hard-limit", "process.rlimits[0]"),
    pytest.param("oom-score-adj-below-zero", "process.oomScoreAdj"),
    pytest.param("bad-uid-map", "linux.uidMappings"),
]


@pytest.mark.parametrize("name, path", LATE_CONFIG_PREFIX)
def test_late_config_errors_read_like_config_errors(ocirt, make_bundle, name, path):
    """A late failure caused by a config field is a config error too: "ocirt: config.json: <path>: ..."."""
    edit, args = next(c[1:3] for c in LATE if c[0] == name)
    out = create(ocirt, make_bundle(args, edit=edit))
    config_error(out, path)
    assert_nothing_left(ocirt)


def test_a_huge_value_in_an_error_is_shortened_keeping_path_and_reason(ocirt, make_bundle):
    """A 1 MiB mount destination fails in the init; the one error line keeps the
    JSON path at its start and the kernel's reason at its end."""
    huge = "/" + "x" * (1 << 20)
    out = create(ocirt, make_bundle(["true"], edit=append_at(["mounts"], {"destination": huge, "type": "tmpfs",
                                                                           "source": "tmpfs"})))
    line = failure_line(out)
    assert len(line) < 5000, len(line)
    assert line.startswith("ocirt: config.json: mounts[7]: "), line[:200]
    assert "characters left out" in line and line.endswith("File name too long"), line[-200:]
    assert_nothing_left(ocirt)
