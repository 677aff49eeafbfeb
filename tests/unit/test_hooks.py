import json
import os
import subprocess
import sys
import time

import pytest

from ocirt.errors import OcirtError
from ocirt.linux.hooks import run_hooks, run_hooks_warn

STATE = {"ociVersion": "1.2.0", "id": "c1", "status": "created", "pid": 42,
         "bundle": "/b", "annotations": {"k": "v"}}


@pytest.fixture
def hookdir(tmp_path):
    def make(name, body):
        path = tmp_path / name
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(0o755)
        return str(path)
    make.dir = tmp_path
    return make


def test_none_and_empty():
    run_hooks(None, STATE, "prestart")
    run_hooks([], STATE, "prestart")
    assert run_hooks_warn(None, STATE, "poststop") == []


def test_stdin_receives_state(hookdir):
    out = hookdir.dir / "stdin"
    hook = hookdir("h", f'cat > "{out}"\n')
    run_hooks([{"path": hook}], STATE, "createRuntime")
    assert json.loads(out.read_text()) == STATE


def test_large_state_and_hook_not_reading_stdin(hookdir):
    # A hook that ignores stdin must not block ocirt, even with more than a pipe's worth.
    big = dict(STATE, annotations={f"k{i}": "v" * 100 for i in range(2000)})
    run_hooks([{"path": hookdir("h", "exit 0\n")}], big, "prestart")
    out = hookdir.dir / "stdin"
    run_hooks([{"path": hookdir("h2", f'cat > "{out}"\n')}], big, "prestart")
    assert json.loads(out.read_text()) == big


def test_env_is_exact(hookdir):
    out = hookdir.dir / "env"
    hook = hookdir("h", f'/usr/bin/env > "{out}"\n')
    run_hooks([{"path": hook, "env": ["A=1", "B=x=y", "EMPTY="]}], STATE, "prestart")
    # sh itself exports PWD; everything else is exactly `env`.
    def seen():
        return sorted(line for line in out.read_text().splitlines() if not line.startswith("PWD="))
    assert seen() == ["A=1", "B=x=y", "EMPTY="]
    run_hooks([{"path": hook}], STATE, "prestart")
    assert seen() == []


def test_bad_env_entry(hookdir):
    with pytest.raises(OcirtError, match=r"prestart hook .*: env entry 'NOEQUALS' is not KEY=VALUE"):
        run_hooks([{"path": hookdir("h", ""), "env": ["NOEQUALS"]}], STATE, "prestart")


def test_args_and_argv0(hookdir):
    out = hookdir.dir / "args"
    hook = hookdir("h", f'printf "%s\\n" "$0" "$@" > "{out}"\n')
    run_hooks([{"path": hook, "args": ["myname", "one", "two words"]}], STATE, "prestart")
    # For a script the kernel passes the script's path to sh as $0, so
    # argv[0] itself is checked with /bin/sh -c below.
    assert out.read_text().splitlines()[1:] == ["one", "two words"]
    run_hooks([{"path": hook}], STATE, "prestart")
    assert out.read_text().splitlines() == [hook]


def test_argv0_is_args0(tmp_path):
    out = tmp_path / "cmdline"
    # /bin/sh -c: args[0] becomes argv[0] of sh, visible in its cmdline.
    run_hooks([{"path": "/bin/sh", "args": ["custom-argv0", "-c", f'cat /proc/$$/cmdline > "{out}"']}],
              STATE, "prestart")
    assert out.read_bytes().split(b"\0")[0] == b"custom-argv0"


def test_only_std_fds_are_open(hookdir, tmp_path):
    out = tmp_path / "fds"
    hook = hookdir("h", f'ls /proc/self/fd > "{out}"\n')
    leaked = os.open("/dev/null", os.O_RDONLY)  # inheritable, like a preserved fd
    os.set_inheritable(leaked, True)
    private = os.open("/dev/null", os.O_RDONLY)  # O_CLOEXEC by default
    try:
        run_hooks([{"path": hook}], STATE, "prestart")
    finally:
        os.close(leaked)
        os.close(private)
    # ls sees 0, 1, 2 and its own directory fd (3), nothing of ours.
    assert sorted(int(x) for x in out.read_text().split()) == [0, 1, 2, 3]


def test_sigpipe_is_default_in_hook(hookdir, tmp_path):
    out = tmp_path / "sig"
    hook = hookdir("h", f'grep -E "^Sig(Ign|Blk)" /proc/self/status > "{out}"\n')
    run_hooks([{"path": hook}], STATE, "prestart")
    values = dict(line.split(":\t") for line in out.read_text().splitlines())
    assert int(values["SigBlk"], 16) == 0
    assert int(values["SigIgn"], 16) & (1 << 12) == 0  # SIGPIPE is 13


def test_failure_message(hookdir):
    hook = hookdir("h", 'echo "some output"\necho "first" >&2\necho "the reason" >&2\nexit 2\n')
    with pytest.raises(OcirtError) as e:
        run_hooks([{"path": hook}], STATE, "createRuntime")
    assert str(e.value) == f"createRuntime hook {hook} failed: exit status 2: the reason"


def test_failure_without_stderr_uses_stdout(hookdir):
    hook = hookdir("h", 'echo "said on stdout"\nexit 1\n')
    with pytest.raises(OcirtError, match=r"failed: exit status 1: said on stdout$"):
        run_hooks([{"path": hook}], STATE, "prestart")
    hook = hookdir("h2", "exit 3\n")
    with pytest.raises(OcirtError) as e:
        run_hooks([{"path": hook}], STATE, "prestart")
    assert str(e.value) == f"prestart hook {hook} failed: exit status 3"


def test_killed_by_signal(hookdir):
    hook = hookdir("h", "kill -TERM $$\n")
    with pytest.raises(OcirtError, match=r"failed: killed by signal SIGTERM$"):
        run_hooks([{"path": hook}], STATE, "prestart")


@pytest.mark.parametrize("setup, reason", [
    (lambda d: str(d / "missing"), "No such file or directory"),
    (lambda d: (d / "noexec").write_text("#!/bin/sh\n") and str(d / "noexec"), "Permission denied"),
])
def test_cannot_execute(tmp_path, setup, reason):
    path = setup(tmp_path)
    with pytest.raises(OcirtError) as e:
        run_hooks([{"path": path}], STATE, "startContainer")
    assert str(e.value) == f"startContainer hook {path} failed: cannot execute: {reason}"


def test_timeout_kills_hook_and_its_children(hookdir, tmp_path):
    pidfile = tmp_path / "child"
    hook = hookdir("h", f'sleep 30 &\necho $! > "{pidfile}"\nwait\n')
    start = time.monotonic()
    with pytest.raises(OcirtError) as e:
        run_hooks([{"path": hook, "timeout": 1}], STATE, "createRuntime")
    assert time.monotonic() - start < 5
    assert str(e.value) == f"createRuntime hook {hook} timed out after 1 s"
    child = int(pidfile.read_text())
    for _ in range(100):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.01)  # killed, maybe not yet reaped by its new parent
    else:
        with open(f"/proc/{child}/stat") as f:
            assert f.read().split(") ")[1][0] == "Z"


def test_within_timeout(hookdir):
    run_hooks([{"path": hookdir("h", "sleep 0.1\n"), "timeout": 5}], STATE, "prestart")


def test_background_child_holding_pipes_does_not_block(hookdir):
    # The hook exits at once; its child keeps stdout/stderr open for 30 s.
    hook = hookdir("h", "sleep 30 &\nexit 0\n")
    start = time.monotonic()
    run_hooks([{"path": hook}], STATE, "prestart")
    assert time.monotonic() - start < 5


def test_order_and_stop_at_first_failure(hookdir, tmp_path):
    log = tmp_path / "log"
    hooks = [{"path": hookdir(f"h{i}", f'echo {i} >> "{log}"\nexit {code}\n')}
             for i, code in enumerate([0, 0, 1, 0])]
    with pytest.raises(OcirtError, match="h2 failed: exit status 1"):
        run_hooks(hooks, STATE, "prestart")
    assert log.read_text().split() == ["0", "1", "2"]


def test_warn_continues_after_failure(hookdir, tmp_path):
    log = tmp_path / "log"
    hooks = [{"path": hookdir(f"h{i}", f'echo {i} >> "{log}"\necho "bad {i}" >&2\nexit {code}\n')}
             for i, code in enumerate([1, 0, 4, 0])]
    hooks.insert(1, {"path": str(tmp_path / "missing")})
    warnings = run_hooks_warn(hooks, STATE, "poststop")
    assert log.read_text().split() == ["0", "1", "2", "3"]
    assert warnings == [
        f"poststop hook {hooks[0]['path']} failed: exit status 1: bad 0",
        f"poststop hook {tmp_path / 'missing'} failed: cannot execute: No such file or directory",
        f"poststop hook {hooks[3]['path']} failed: exit status 4: bad 2",
    ]


def test_output_does_not_reach_our_stdio(hookdir, tmp_path):
    hook = hookdir("h", "echo to-stdout\necho to-stderr >&2\n")
    code = ("import sys; from ocirt.linux.hooks import run_hooks; "
            f"run_hooks([{{'path': {hook!r}}}], {{}}, 'prestart')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_closed_stdio_in_ocirt(hookdir, tmp_path):
    # With 0-2 closed in ocirt, the pipes must still land on the hook's 0-2.
    out = tmp_path / "stdin"
    hook = hookdir("h", f'cat > "{out}"\necho err >&2\nexit 1\n')
    code = ("import os, sys; from ocirt.errors import OcirtError; from ocirt.linux.hooks import run_hooks\n"
            "w = os.dup(1)\nfor fd in (0, 1, 2): os.close(fd)\n"
            f"try: run_hooks([{{'path': {hook!r}}}], {{'id': 'x'}}, 'prestart')\n"
            "except OcirtError as e: os.write(w, str(e).encode())\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert result.stdout == f"prestart hook {hook} failed: exit status 1: err"
    assert json.loads(out.read_text()) == {"id": "x"}
