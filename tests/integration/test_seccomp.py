"""linux.seccomp: filters load, act, fail clearly, and hand notify fds to a listener."""
import json
import os
import socket
import threading

import pytest

from conftest import new_id

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "fixtures")
if not os.path.isdir(FIXTURES):
    FIXTURES = "/work/shared/fixtures"


def podman_profile():
    with open(os.path.join(FIXTURES, "podman-config.json")) as f:
        return json.load(f)["linux"]["seccomp"]


def with_seccomp(profile, no_new_privs=True):
    def edit(config):
        config["linux"]["seccomp"] = profile
        config["process"]["noNewPrivileges"] = no_new_privs
    return edit


@pytest.mark.parametrize("no_new_privs", [True, False])
def test_podman_profile_loads(ocirt, make_bundle, no_new_privs):
    bundle = make_bundle(["sh", "-c", "grep ^Seccomp: /proc/self/status"],
                         edit=with_seccomp(podman_profile(), no_new_privs))
    assert ocirt("run", "--bundle", bundle, new_id()).stdout.split() == ["Seccomp:", "2"]


def test_deny_by_default_profile_without_close_range(ocirt, make_bundle):
    """Without no_new_privs the filter goes in before ocirt has finished: ocirt's
    own remaining set-up must not need syscalls a strict profile may deny."""
    profile = podman_profile()
    for rule in profile["syscalls"]:
        rule["names"] = [n for n in rule["names"] if n not in ("close_range",)]
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    bundle = make_bundle(["echo", "started"], edit=with_seccomp(profile, no_new_privs=False))
    assert ocirt("run", "--bundle", bundle, new_id()).stdout == "started\n"


def test_errno_and_kill_actions(ocirt, make_bundle):
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
        {"names": ["sethostname"], "action": "SCMP_ACT_KILL_PROCESS"}]}
    # Separate processes: busybox sh runs some applets inside the shell itself.
    bundle = make_bundle(["sh", "-c", "/bin/busybox pwd; echo pwd=$?; sh -c 'hostname x'; echo hostname=$?"],
                         edit=with_seccomp(profile))
    out = ocirt("run", "--bundle", bundle, new_id(), check=False)
    assert "pwd=1" in out.stdout and "Operation not permitted" in out.stderr
    assert "hostname=159" in out.stdout  # 128 + SIGSYS


def test_argument_conditions(ocirt, make_bundle):
    # kill(pid, SIGUSR1) is refused; kill(pid, 0) is not.
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
         "args": [{"index": 1, "value": 10, "op": "SCMP_CMP_EQ"}]}]}
    bundle = make_bundle(["sh", "-c", "kill -USR1 $$ 2>&1; echo usr1=$?; kill -0 $$; echo zero=$?"],
                         edit=with_seccomp(profile))
    out = ocirt("run", "--bundle", bundle, new_id(), check=False).stdout
    assert "usr1=1" in out and "zero=0" in out


@pytest.mark.parametrize("field, value, path", [
    ("defaultAction", "SCMP_ACT_NOPE", "linux.seccomp.defaultAction"),
    ("architectures", ["SCMP_ARCH_NOPE"], "linux.seccomp.architectures"),
    ("flags", ["SECCOMP_FILTER_FLAG_NOPE"], "linux.seccomp.flags"),
])
def test_bad_profiles_fail_create(ocirt, make_bundle, field, value, path):
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}
    profile[field] = value
    cid = new_id()
    out = ocirt("create", "--bundle", make_bundle(["true"], edit=with_seccomp(profile)), cid, check=False)
    assert out.returncode != 0 and path in out.stderr, out.stderr
    assert not os.path.exists(os.path.join(ocirt.root, cid))


def test_unknown_syscall_names_are_skipped(ocirt, make_bundle):
    profile = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["no_such_syscall_here", "getcwd"], "action": "SCMP_ACT_ERRNO"}]}
    bundle = make_bundle(["sh", "-c", "/bin/busybox pwd; echo rc=$?"], edit=with_seccomp(profile))
    assert "rc=1" in ocirt("run", "--bundle", bundle, new_id(), check=False).stdout


def test_notify_fd_and_state_reach_the_listener(ocirt, make_bundle, tmp_path):
    path = str(tmp_path / "agent.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    received = {}

    def agent():
        conn, _ = server.accept()
        with conn:
            message, fds, _, _ = socket.recv_fds(conn, 65536, 1)
            received["message"] = json.loads(message)
            received["fds"] = fds
            for fd in fds:
                os.close(fd)  # the notified syscall then fails with ENOSYS

    thread = threading.Thread(target=agent, daemon=True)
    thread.start()
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": path, "listenerMetadata": "meta",
               "syscalls": [{"names": ["mkdirat", "mkdir"], "action": "SCMP_ACT_NOTIFY"}]}
    cid = new_id()
    ocirt("run", "--bundle", make_bundle(["sh", "-c", "mkdir /tmp/x 2>/dev/null; echo done"],
                                          edit=with_seccomp(profile)), cid, timeout=30)
    thread.join(10)
    server.close()
    assert len(received["fds"]) == 1
    assert received["message"]["metadata"] == "meta" and received["message"]["fds"] == ["seccompFd"]
    assert received["message"]["state"]["id"] == cid


def test_exec_gets_the_containers_profile(ocirt, make_bundle):
    profile = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"}]}
    cid = new_id()
    ocirt("run", "-d", "--bundle", make_bundle(["sleep", "100"], edit=with_seccomp(profile)), cid)
    try:
        out = ocirt("exec", cid, "sh", "-c", "grep ^Seccomp: /proc/self/status; /bin/busybox pwd; echo rc=$?",
                    check=False)
        assert "Seccomp:\t2" in out.stdout and "rc=1" in out.stdout
    finally:
        ocirt("delete", "--force", cid)


def test_features_report_what_is_handled(ocirt):
    from ocirt.linux import seccomp

    features = json.loads(ocirt("features").stdout)["linux"]["seccomp"]
    assert features["enabled"] is True
    assert set(features["actions"]) == set(seccomp.ACTIONS)
    assert set(features["operators"]) == set(seccomp.OPERATORS)
    assert "SCMP_ARCH_X86_64" in features["archs"]
