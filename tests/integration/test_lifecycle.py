"""The OCI lifecycle through the CLI: create, start, state, kill, delete, run, list."""
import json
import os
import time

import pytest

from conftest import new_id


def wait_status(ocirt, cid, status, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ocirt.state(cid)["status"] == status:
            return
        time.sleep(0.01)
    raise AssertionError(f"{cid} never reached {status}: {ocirt.state(cid)}")


def test_run_prints_and_returns_exit_code(ocirt, make_bundle):
    out = ocirt("run", "--bundle", make_bundle(["sh", "-c", "echo hello; exit 3"]), new_id(), check=False)
    assert out.returncode == 3
    assert out.stdout == "hello\n"
    assert os.listdir(ocirt.root) == []  # foreground run removes the container


def test_full_lifecycle(ocirt, make_bundle, tmp_path):
    cid = new_id()
    bundle = make_bundle(["sleep", "1000"])
    pid_file = tmp_path / "init.pid"
    ocirt("create", "--bundle", bundle, "--pid-file", pid_file, cid)
    raw = pid_file.read_text()
    assert raw.isdigit() and not raw.endswith("\n")
    state = ocirt.state(cid)
    assert state["status"] == "created"
    assert state["pid"] == int(raw)
    assert state["id"] == cid and state["bundle"] == bundle and state["ociVersion"]
    assert state["created"].endswith("Z") and state["owner"] == ""
    # the init waits: it has not yet exec'd sleep
    with open(f"/proc/{raw}/cmdline", "rb") as f:
        assert b"sleep" not in f.read()
    ocirt("start", cid)
    assert ocirt.state(cid)["status"] == "running"
    with open(f"/proc/{raw}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[0] == b"sleep"
    with pytest.raises(AssertionError, match="not running|is running|already"):
        ocirt("start", cid)
    out = ocirt("delete", cid, check=False)
    assert out.returncode != 0 and "--force" in out.stderr
    ocirt("kill", cid, "KILL")
    wait_status(ocirt, cid, "stopped")
    assert ocirt.state(cid)["pid"] == 0
    ocirt("delete", cid)
    out = ocirt("state", cid, check=False)
    assert out.returncode != 0 and "does not exist" in out.stderr


def test_state_schema(ocirt, make_bundle):
    jsonschema = pytest.importorskip("jsonschema")
    from ocirt import spec

    cid = new_id()
    ocirt("create", "--bundle", make_bundle(["true"]), cid)
    with open(os.path.join(spec.SCHEMA_DIR, "state.json")) as f:
        schema = json.load(f)
    jsonschema.validate(ocirt.state(cid), schema)
    ocirt("delete", "--force", cid)


@pytest.mark.parametrize("signal", ["15", "TERM", "SIGTERM", "sigterm"])
def test_kill_signal_forms(ocirt, make_bundle, signal):
    cid = new_id()
    ocirt("run", "--detach", "--bundle", make_bundle(["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.05; done"]), cid)
    ocirt("kill", cid, signal)
    wait_status(ocirt, cid, "stopped")
    ocirt("delete", cid)


def test_kill_a_created_container(ocirt, make_bundle):
    cid = new_id()
    ocirt("create", "--bundle", make_bundle(["true"]), cid)
    ocirt("kill", cid, "TERM")
    wait_status(ocirt, cid, "stopped")
    ocirt("delete", cid)


def test_kill_stopped_container(ocirt, make_bundle):
    cid = new_id()
    ocirt("run", "--detach", "--bundle", make_bundle(["true"]), cid)
    wait_status(ocirt, cid, "stopped")
    out = ocirt("kill", cid, "9", check=False)
    assert out.returncode != 0 and "container not running" in out.stderr
    # containerd sends this after every exit and needs success
    ocirt("kill", "--all", cid, "9")
    ocirt("delete", cid)


def test_bad_signal(ocirt, make_bundle):
    cid = new_id()
    ocirt("create", "--bundle", make_bundle(["true"]), cid)
    out = ocirt("kill", cid, "SIGNOPE", check=False)
    assert out.returncode != 0 and "unknown signal" in out.stderr
    assert ocirt.state(cid)["status"] == "created"
    ocirt("delete", "--force", cid)


def test_kill_all_reaches_every_process(ocirt, make_bundle):
    cid = new_id()
    ocirt("run", "-d", "--bundle", make_bundle(["sh", "-c", "sleep 1000 & sleep 1000 & wait"]), cid)
    deadline = time.monotonic() + 5
    while len(json.loads(ocirt("ps", "--format", "json", cid).stdout)) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    pids = json.loads(ocirt("ps", "--format", "json", cid).stdout)
    assert len(pids) == 3
    ocirt("kill", "--all", cid, "KILL")
    wait_status(ocirt, cid, "stopped")
    ocirt("delete", cid)


def host_pid_namespace(config):
    config["linux"]["namespaces"] = [ns for ns in config["linux"]["namespaces"] if ns["type"] != "pid"]


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1][0] not in "ZX"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("how", ["kill --all", "delete --force"])
def test_every_process_dies_with_the_host_pid_namespace(ocirt, make_bundle, how):
    """Without its own pid namespace the init's death takes nobody with it: the
    processes are found through the cgroup (frozen, signalled, thawed)."""
    cid = new_id()
    bundle = make_bundle(["sh", "-c", "sleep 1000 & sleep 1000 & wait"], edit=host_pid_namespace)
    ocirt("run", "-d", "--bundle", bundle, cid)
    deadline = time.monotonic() + 5
    while len(json.loads(ocirt("ps", "--format", "json", cid).stdout)) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    pids = json.loads(ocirt("ps", "--format", "json", cid).stdout)
    assert len(pids) == 3 and ocirt.state(cid)["pid"] in pids
    if how == "kill --all":
        ocirt("kill", "--all", cid, "KILL")
        wait_status(ocirt, cid, "stopped")
        ocirt("delete", cid)
    else:
        ocirt("delete", "--force", cid)
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [pid for pid in pids if alive(pid)] == []
    assert not os.path.exists(os.path.join(ocirt.root, cid))


def test_delete_force_running(ocirt, make_bundle):
    cid = new_id()
    ocirt("run", "-d", "--bundle", make_bundle(["sleep", "1000"]), cid)
    pid = ocirt.state(cid)["pid"]
    ocirt("delete", "--force", cid)
    assert not os.path.exists(os.path.join(ocirt.root, cid))
    # the init is gone (at most a zombie waiting for its subreaper)
    try:
        with open(f"/proc/{pid}/stat") as f:
            assert f.read().split(") ")[1][0] in "ZX"
    except FileNotFoundError:
        pass


def test_delete_force_unknown_is_ok(ocirt):
    assert ocirt("delete", "--force", "never-existed").returncode == 0
    out = ocirt("delete", "never-existed", check=False)
    assert out.returncode != 0 and "does not exist" in out.stderr


def test_duplicate_id(ocirt, make_bundle):
    cid = new_id()
    bundle = make_bundle(["true"])
    ocirt("create", "--bundle", bundle, cid)
    out = ocirt("create", "--bundle", bundle, cid, check=False)
    assert out.returncode != 0 and "already exists" in out.stderr
    assert ocirt.state(cid)["status"] == "created"  # the first one is untouched
    ocirt("delete", "--force", cid)


def test_list(ocirt, make_bundle):
    ids = [new_id("l") for _ in range(2)]
    for cid in ids:
        ocirt("create", "--bundle", make_bundle(["true"]), cid)
    assert sorted(ocirt("list", "-q").stdout.split()) == sorted(ids)
    listed = json.loads(ocirt("list", "--format", "json").stdout)
    assert {c["id"]: c["status"] for c in listed} == {cid: "created" for cid in ids}
    table = ocirt("list").stdout.splitlines()
    assert table[0].split()[:3] == ["ID", "PID", "STATUS"] and len(table) == 3
    for cid in ids:
        ocirt("delete", "--force", cid)


def test_pause_resume(ocirt, make_bundle):
    cid = new_id()
    ocirt("run", "-d", "--bundle", make_bundle(["sleep", "1000"]), cid)
    ocirt("pause", cid)
    assert ocirt.state(cid)["status"] == "paused"
    out = ocirt("pause", cid, check=False)
    assert out.returncode != 0
    ocirt("resume", cid)
    assert ocirt.state(cid)["status"] == "running"
    ocirt("pause", cid)
    ocirt("delete", "--force", cid)  # works on a paused container


def test_version_and_help(ocirt):
    out = ocirt("--version")
    assert out.stdout.splitlines()[0].startswith("ocirt version ")
    assert "spec: 1.3.0" in out.stdout
    out = ocirt("frobnicate", check=False)
    assert out.returncode == 3 and "unknown command" in out.stderr


def test_systemd_cgroup_without_systemd(ocirt, make_bundle):
    if os.path.isdir("/run/systemd/system"):
        pytest.skip("systemd is running here")
    cid = new_id()
    out = ocirt("create", "--bundle", make_bundle(["true"]), cid, check=False, global_args=("--systemd-cgroup",))
    assert out.returncode != 0 and "systemd" in out.stderr
    assert not os.path.exists(os.path.join(ocirt.root, cid))


def test_json_log_on_failure(ocirt, tmp_path):
    log = tmp_path / "log.json"
    out = ocirt("--log", log, "--log-format", "json", "state", "nope", check=False)
    assert out.returncode == 1
    assert "does not exist" in out.stderr
    lines = log.read_text().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["level"] == "error" and "does not exist" in entry["msg"]
    assert entry["time"].endswith("Z")


def test_a_runc_container_under_the_same_root_is_left_alone(ocirt, make_bundle, tmp_path):
    import shutil
    import subprocess

    if shutil.which("runc") is None:
        pytest.skip("runc is not installed")
    runc_id = new_id("runc")
    subprocess.run(["runc", "--root", ocirt.root, "create", "--bundle", make_bundle(["true"]), runc_id],
                   check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        cid = new_id()
        ocirt("create", "--bundle", make_bundle(["true"]), cid)
        assert [c["id"] for c in json.loads(ocirt("list", "--format", "json").stdout)] == [cid]
        for argv in (("state", runc_id), ("delete", "--force", runc_id)):
            out = ocirt(*argv, check=False)
            assert out.returncode == 1 and "not a state record written by ocirt" in out.stderr
            assert "Traceback" not in out.stderr
        assert os.path.isdir(os.path.join(ocirt.root, runc_id))
        ocirt("delete", "--force", cid)
    finally:
        subprocess.run(["runc", "--root", ocirt.root, "delete", "--force", runc_id], check=True)
