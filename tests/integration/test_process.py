"""process.* of the config as the container sees it: args and PATH lookup, env,
cwd, user, rlimits, noNewPrivileges, oomScoreAdj, capabilities, fds, stdio,
signal state, dumpability; plus hostname, domainname and sysctl.

Each test runs a real container and asserts on what the process inside reads
from the kernel (/proc/self/status, /proc/self/limits, `id`, ...)."""
import os
import resource
import signal
import subprocess
import sys
import time

import pytest

from conftest import OCIRT, REPO, new_id

from ocirt.capabilities import CAPABILITIES

CONTAINER_TOOL = "ocirt-only-in-container"  # the name of a script that only the tools rootfs has


# ---------------------------------------------------------------- helpers

@pytest.fixture(scope="module")
def tools_rootfs(tmp_path_factory):
    """A busybox rootfs of our own with /opt/tools/<CONTAINER_TOOL>, a directory
    that is not on the default PATH (and does not exist on the host)."""
    target = tmp_path_factory.mktemp("tools") / "rootfs"
    subprocess.run(["sh", os.path.join(REPO, "bundles", "busybox", "make-rootfs"), str(target)],
                   check=True, capture_output=True)
    tools = target / "opt" / "tools"
    tools.mkdir(parents=True)
    script = tools / CONTAINER_TOOL
    script.write_text('#!/bin/sh\necho "tool ran as $0 with $*"\n')
    script.chmod(0o755)
    return str(target)


def run(ocirt, bundle, **kw):
    """Foreground `run`; returns the CompletedProcess (container stdout in .stdout)."""
    return ocirt("run", "--bundle", bundle, new_id(), **kw)


def status_fields(text):
    """{field: value} of a /proc/PID/status text."""
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def read_status(pid):
    with open(f"/proc/{pid}/status") as f:
        return status_fields(f.read())


def mask(*names):
    m = 0
    for name in names:
        m |= 1 << CAPABILITIES[name]
    return m


def cap_sets(fields):
    return {key: int(fields[key], 16) for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}


def assert_failed_cleanly(ocirt, out, cid, *needles):
    """`create`/`run` failed with every needle in its message and left nothing."""
    assert out.returncode != 0, out
    for needle in needles:
        assert needle in out.stderr, (needle, out.stderr)
    assert not os.path.exists(os.path.join(ocirt.root, cid))
    assert ocirt("state", cid, check=False).returncode != 0
    # no_leaks then checks cgroups, mounts and processes.


def ocirt_with_stdio(ocirt, *args, **kw):
    """`ocirt ARGS` with the stdio given in `kw` (the fixture always captures
    stdout and stderr itself); the id is still cleaned up by the fixture."""
    if "create" in args or "run" in args:
        ocirt.ids.add(str(args[-1]))
    return subprocess.run([OCIRT, "--root", ocirt.root, *map(str, args)], timeout=60, **kw)


def wait_stopped(ocirt, cid, timeout=5):
    deadline = time.monotonic() + timeout
    while ocirt.state(cid)["status"] != "stopped":
        assert time.monotonic() < deadline, ocirt.state(cid)
        time.sleep(0.01)


def wait_exec(pid, program, timeout=5):
    """Wait until the container's init has exec'd `program` (bytes)."""
    deadline = time.monotonic() + timeout
    while True:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if f.read().split(b"\0")[0] == program:
                return
        assert time.monotonic() < deadline
        time.sleep(0.005)


def set_process(**fields):
    def edit(config):
        config["process"].update(fields)
    return edit


# ---------------------------------------------------------------- args and PATH

def test_path_lookup_uses_process_env_path_inside_the_container(ocirt, make_bundle, tools_rootfs):
    bundle = make_bundle([CONTAINER_TOOL, "a", "b"], rootfs=tools_rootfs,
                         edit=set_process(env=["PATH=/opt/tools:/bin"]))
    out = run(ocirt, bundle)
    # found in the container's /opt/tools (a script gets the resolved path as $0)
    assert out.stdout == f"tool ran as /opt/tools/{CONTAINER_TOOL} with a b\n"


def test_argv0_is_passed_as_configured(ocirt, make_bundle):
    # the lookup resolves /bin/cat, but the program's argv[0] stays "cat"
    out = run(ocirt, make_bundle(["cat", "/proc/self/cmdline"], edit=set_process(env=["PATH=/usr/bin:/bin"])))
    assert out.stdout == "cat\0/proc/self/cmdline\0"


def test_path_lookup_ignores_directories_not_on_the_configured_path(ocirt, make_bundle, tools_rootfs):
    cid = new_id()
    bundle = make_bundle([CONTAINER_TOOL], rootfs=tools_rootfs, edit=set_process(env=["PATH=/bin:/usr/bin"]))
    out = ocirt("create", "--bundle", bundle, cid, check=False)
    assert_failed_cleanly(ocirt, out, cid, "executable file not found in $PATH", CONTAINER_TOOL)


def test_path_lookup_is_not_done_on_the_host(ocirt, make_bundle):
    # python3 is on the host's PATH (it runs this test) but not in the busybox rootfs
    cid = new_id()
    out = ocirt("create", "--bundle", make_bundle(["python3", "-c", "pass"]), cid, check=False)
    assert_failed_cleanly(ocirt, out, cid, "executable file not found in $PATH")


def test_default_path_when_env_has_none(ocirt, make_bundle, tools_rootfs):
    # No PATH in env: the lookup uses the default PATH, which finds /bin/env ...
    out = run(ocirt, make_bundle(["env"], edit=set_process(env=["A=1"])))
    assert out.stdout == "A=1\n"  # ... and no PATH is added to the environment
    # ... but not /opt/tools
    cid = new_id()
    out = ocirt("create", "--bundle", make_bundle([CONTAINER_TOOL], rootfs=tools_rootfs, edit=set_process(env=[])),
                cid, check=False)
    assert_failed_cleanly(ocirt, out, cid, "executable file not found in $PATH")


def test_absolute_args0(ocirt, make_bundle, tools_rootfs):
    out = run(ocirt, make_bundle([f"/opt/tools/{CONTAINER_TOOL}", "x"], rootfs=tools_rootfs,
                                 edit=set_process(env=[])))
    assert out.stdout == f"tool ran as /opt/tools/{CONTAINER_TOOL} with x\n"


def test_missing_bare_name_fails_at_create(ocirt, make_bundle):
    cid = new_id()
    out = ocirt("create", "--bundle", make_bundle(["no-such-program"]), cid, check=False)
    assert_failed_cleanly(ocirt, out, cid, "no-such-program", "executable file not found in $PATH")


def test_missing_path_fails_at_create(ocirt, make_bundle):
    cid = new_id()
    out = ocirt("create", "--bundle", make_bundle(["/no/such/program"]), cid, check=False)
    assert_failed_cleanly(ocirt, out, cid, "/no/such/program", "no such file or directory")


def test_missing_program_fails_run_before_start(ocirt, make_bundle):
    cid = new_id()
    out = ocirt("run", "--bundle", make_bundle(["no-such-program"]), cid, check=False)
    assert_failed_cleanly(ocirt, out, cid, "executable file not found in $PATH")


# ---------------------------------------------------------------- env and cwd

def test_env_is_exactly_the_config(ocirt, make_bundle):
    env = ["PATH=/bin:/usr/bin", "HOME=/root", "WITH_SPACES=a b  c", "WITH_EQUALS=x=y=z", "EMPTY="]
    leaky = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1",
                 OCIRT_TEST_SECRET="must-not-leak")
    out = run(ocirt, make_bundle(["env"], edit=set_process(env=env)), env=leaky)
    assert sorted(out.stdout.splitlines()) == sorted(env)


def test_env_through_proc_environ(ocirt, make_bundle):
    """The environment block itself (not a shell's view of it): NUL-separated, in order."""
    env = ["PATH=/bin", "B=2", "A=1"]
    out = run(ocirt, make_bundle(["cat", "/proc/self/environ"], edit=set_process(env=env)),
              env=dict(os.environ, OCIRT_TEST_SECRET="x"))
    assert out.stdout.split("\0")[:-1] == env


def test_cwd(ocirt, make_bundle):
    out = run(ocirt, make_bundle(["pwd"], edit=set_process(cwd="/tmp")))
    assert out.stdout == "/tmp\n"
    out = run(ocirt, make_bundle(["pwd"], edit=set_process(cwd="/")))
    assert out.stdout == "/\n"


def test_missing_cwd_fails_at_create(ocirt, make_bundle):
    cid = new_id()
    out = ocirt("create", "--bundle", make_bundle(["true"], edit=set_process(cwd="/no/such/dir")),
                cid, check=False)
    assert_failed_cleanly(ocirt, out, cid, "process.cwd", "/no/such/dir")


# ---------------------------------------------------------------- user

def test_user_uid_gid_additional_gids(ocirt, make_bundle):
    user = {"uid": 1000, "gid": 1001, "additionalGids": [5, 100, 4242]}
    out = run(ocirt, make_bundle(["sh", "-c", "id -u; id -g; id -G; cat /proc/self/status"],
                                 edit=set_process(user=user)))
    lines = out.stdout.splitlines()
    assert lines[0] == "1000" and lines[1] == "1001"
    assert sorted(map(int, lines[2].split())) == [5, 100, 1001, 4242]
    fields = status_fields(out.stdout)
    assert fields["Uid"].split() == ["1000"] * 4
    assert fields["Gid"].split() == ["1001"] * 4
    assert sorted(map(int, fields["Groups"].split())) == [5, 100, 4242]


def test_no_additional_gids_means_no_groups(ocirt, make_bundle):
    # ocirt itself runs with supplementary groups of its caller; none may stay
    out = run(ocirt, make_bundle(["cat", "/proc/self/status"], edit=set_process(user={"uid": 0, "gid": 0})),
              preexec_fn=lambda: os.setgroups([7, 8]))
    assert status_fields(out.stdout)["Groups"] == ""


@pytest.mark.parametrize("umask, shown", [(18, "0022"), (0o077, "0077"), (0, "0000")])
def test_umask(ocirt, make_bundle, umask, shown):
    user = {"uid": 0, "gid": 0, "umask": umask}
    out = run(ocirt, make_bundle(["sh", "-c", "umask; grep Umask /proc/self/status"],
                                 edit=set_process(user=user)))
    lines = out.stdout.splitlines()
    assert lines[0] == shown
    assert lines[1].split() == ["Umask:", shown]


# ---------------------------------------------------------------- rlimits

def limits_table(text):
    """{"Max open files": (soft, hard)} from /proc/self/limits."""
    table = {}
    for line in text.splitlines()[1:]:
        name, soft, hard = line[:26].strip(), line[26:47].strip(), line[47:68].strip()
        table[name] = (soft, hard)
    return table


def test_rlimits(ocirt, make_bundle):
    rlimits = [
        {"type": "RLIMIT_NOFILE", "soft": 1234, "hard": 4321},
        {"type": "RLIMIT_NPROC", "soft": 77, "hard": 88},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 2**64 - 1},
        {"type": "RLIMIT_MSGQUEUE", "soft": 4096, "hard": 8192},
    ]
    out = run(ocirt, make_bundle(["cat", "/proc/self/limits"], edit=set_process(rlimits=rlimits)))
    table = limits_table(out.stdout)
    assert table["Max open files"] == ("1234", "4321")
    assert table["Max processes"] == ("77", "88")
    assert table["Max core file size"] == ("0", "unlimited")
    assert table["Max msgqueue size"] == ("4096", "8192")


def test_rlimits_not_configured_are_inherited(ocirt, make_bundle):
    out = run(ocirt, make_bundle(["cat", "/proc/self/limits"], edit=set_process(rlimits=[])),
              preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (555, 666)))
    assert limits_table(out.stdout)["Max open files"] == ("555", "666")


def test_rlimit_hard_above_runtime_hard_fails(ocirt, make_bundle):
    own_hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if own_hard == resource.RLIM_INFINITY:
        pytest.skip("this process has an unlimited RLIMIT_NOFILE")
    with open("/proc/self/status") as f:
        if int(status_fields(f.read())["CapEff"], 16) & mask("CAP_SYS_RESOURCE"):
            pytest.skip("CAP_SYS_RESOURCE lets the hard limit be raised")
    cid = new_id()
    rlimits = [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": own_hard + 1}]
    out = ocirt("create", "--bundle", make_bundle(["true"], edit=set_process(rlimits=rlimits)), cid, check=False)
    assert_failed_cleanly(ocirt, out, cid, "RLIMIT_NOFILE", f"above {own_hard}", "CAP_SYS_RESOURCE")


# ---------------------------------------------------------------- noNewPrivileges, oomScoreAdj

@pytest.mark.parametrize("nnp, shown", [(True, "1"), (False, "0")])
def test_no_new_privileges(ocirt, make_bundle, nnp, shown):
    out = run(ocirt, make_bundle(["cat", "/proc/self/status"], edit=set_process(noNewPrivileges=nnp)))
    assert status_fields(out.stdout)["NoNewPrivs"] == shown


def test_no_new_privileges_absent_means_off(ocirt, make_bundle):
    out = run(ocirt, make_bundle(["cat", "/proc/self/status"],
                                 edit=lambda c: c["process"].pop("noNewPrivileges")))
    assert status_fields(out.stdout)["NoNewPrivs"] == "0"


def test_oom_score_adj(ocirt, make_bundle):
    out = run(ocirt, make_bundle(["cat", "/proc/self/oom_score_adj"], edit=set_process(oomScoreAdj=500)))
    assert out.stdout == "500\n"


def test_oom_score_adj_below_own_fails(ocirt, make_bundle):
    with open("/proc/self/status") as f:
        if int(status_fields(f.read())["CapEff"], 16) & mask("CAP_SYS_RESOURCE"):
            pytest.skip("with CAP_SYS_RESOURCE a lower oom_score_adj is allowed")
    with open("/proc/self/oom_score_adj") as f:
        own = int(f.read())
    cid = new_id()
    out = ocirt("create", "--bundle", make_bundle(["true"], edit=set_process(oomScoreAdj=own - 100)),
                cid, check=False)
    assert_failed_cleanly(ocirt, out, cid, "process.oomScoreAdj", "CAP_SYS_RESOURCE")


# ---------------------------------------------------------------- capabilities

def caps_config(**sets):
    return {name: list(sets.get(name, ())) for name in ("bounding", "effective", "permitted", "inheritable", "ambient")}


def test_capabilities_all_five_sets(ocirt, make_bundle):
    caps = caps_config(bounding=["CAP_KILL", "CAP_CHOWN", "CAP_NET_RAW", "CAP_SYS_ADMIN"],
                       effective=["CAP_KILL"], permitted=["CAP_KILL", "CAP_CHOWN", "CAP_NET_RAW"],
                       inheritable=["CAP_CHOWN"], ambient=["CAP_CHOWN"])
    out = run(ocirt, make_bundle(["cat", "/proc/self/status"],
                                 edit=set_process(capabilities=caps, noNewPrivileges=True)))
    # execve as root with no_new_privs: permitted = (bounding | inheritable) & the permitted
    # set before exec, all of it effective; bounding, inheritable and ambient as configured
    # (runc gives the same sets)
    assert cap_sets(status_fields(out.stdout)) == {
        "CapBnd": mask(*caps["bounding"]),
        "CapPrm": mask("CAP_KILL", "CAP_CHOWN", "CAP_NET_RAW"),
        "CapEff": mask("CAP_KILL", "CAP_CHOWN", "CAP_NET_RAW"),
        "CapInh": mask("CAP_CHOWN"), "CapAmb": mask("CAP_CHOWN")}


def test_capabilities_root_without_no_new_privs(ocirt, make_bundle):
    caps = caps_config(bounding=["CAP_KILL", "CAP_NET_RAW"], effective=["CAP_KILL"], permitted=["CAP_KILL"])
    out = run(ocirt, make_bundle(["cat", "/proc/self/status"],
                                 edit=set_process(capabilities=caps, noNewPrivileges=False)))
    # execve as root makes the whole bounding set permitted and effective
    assert cap_sets(status_fields(out.stdout)) == {
        "CapBnd": mask("CAP_KILL", "CAP_NET_RAW"), "CapPrm": mask("CAP_KILL", "CAP_NET_RAW"),
        "CapEff": mask("CAP_KILL", "CAP_NET_RAW"), "CapInh": 0, "CapAmb": 0}


def test_capabilities_non_root_user_without_ambient(ocirt, make_bundle):
    caps = caps_config(bounding=["CAP_NET_BIND_SERVICE", "CAP_KILL", "CAP_CHOWN"],
                       effective=["CAP_NET_BIND_SERVICE", "CAP_KILL"],
                       permitted=["CAP_NET_BIND_SERVICE", "CAP_KILL"])
    out = run(ocirt, make_bundle(["cat", "/proc/self/status"],
                                 edit=set_process(capabilities=caps, user={"uid": 1000, "gid": 1000})))
    # without ambient caps, a non-root execve of a file without file caps keeps none (as runc)
    assert cap_sets(status_fields(out.stdout)) == {
        "CapBnd": mask(*caps["bounding"]), "CapEff": 0, "CapPrm": 0, "CapInh": 0, "CapAmb": 0}


def test_capabilities_non_root_user_with_ambient(ocirt, make_bundle):
    names = ["CAP_NET_BIND_SERVICE", "CAP_KILL"]
    caps = caps_config(bounding=names + ["CAP_CHOWN"], effective=names, permitted=names,
                       inheritable=names, ambient=names)
    out = run(ocirt, make_bundle(["sh", "-c", "id -u; cat /proc/self/status"],
                                 edit=set_process(capabilities=caps, user={"uid": 1000, "gid": 1000})))
    assert out.stdout.splitlines()[0] == "1000"
    assert cap_sets(status_fields(out.stdout)) == {
        "CapBnd": mask(*names, "CAP_CHOWN"), "CapEff": mask(*names), "CapPrm": mask(*names),
        "CapInh": mask(*names), "CapAmb": mask(*names)}


def test_capabilities_ambient_really_works_for_non_root(ocirt, make_bundle):
    # CAP_CHOWN in the ambient set lets uid 1000 chown a file to another user
    names = ["CAP_CHOWN"]
    caps = caps_config(bounding=names, effective=names, permitted=names, inheritable=names, ambient=names)
    script = "touch /tmp/f && chown 4242 /tmp/f && stat -c %u /tmp/f"
    edit = set_process(capabilities=caps, user={"uid": 1000, "gid": 1000})

    def with_tmpfs(config):
        edit(config)
        config["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                                 "options": ["mode=1777"]})
    out = run(ocirt, make_bundle(["sh", "-c", script], edit=with_tmpfs))
    assert out.stdout == "4242\n"

    def without_ambient(config):
        with_tmpfs(config)
        config["process"]["capabilities"]["ambient"] = []
    out = ocirt("run", "--bundle", make_bundle(["sh", "-c", script], edit=without_ambient), new_id(), check=False)
    assert out.returncode != 0 and "Operation not permitted" in out.stderr


def test_ambient_needs_permitted_and_inheritable(ocirt, make_bundle):
    caps = caps_config(bounding=["CAP_KILL"], effective=["CAP_KILL"], permitted=["CAP_KILL"],
                       ambient=["CAP_KILL"])
    cid = new_id()
    out = ocirt("create", "--bundle", make_bundle(["true"], edit=set_process(capabilities=caps)), cid, check=False)
    assert_failed_cleanly(ocirt, out, cid, "process.capabilities.ambient", "CAP_KILL")


def test_capabilities_empty_sets(ocirt, make_bundle):
    out = run(ocirt, make_bundle(["cat", "/proc/self/status"],
                                 edit=set_process(capabilities=caps_config(), noNewPrivileges=False)))
    assert cap_sets(status_fields(out.stdout)) == dict.fromkeys(("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"), 0)


def test_capabilities_empty_object(ocirt, make_bundle):
    out = run(ocirt, make_bundle(["cat", "/proc/self/status"],
                                 edit=set_process(capabilities={}, noNewPrivileges=False)))
    assert cap_sets(status_fields(out.stdout)) == dict.fromkeys(("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"), 0)


def test_no_capabilities_key_drops_everything(ocirt, make_bundle):
    def edit(config):
        config["process"].pop("capabilities")
        config["process"]["noNewPrivileges"] = False
    out = run(ocirt, make_bundle(["cat", "/proc/self/status"], edit=edit))
    assert cap_sets(status_fields(out.stdout)) == dict.fromkeys(("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"), 0)


def test_unknown_capability_is_a_config_error(ocirt, make_bundle):
    caps = caps_config(bounding=["CAP_KILL", "CAP_NOT_A_CAP"], effective=["CAP_KILL"], permitted=["CAP_KILL"])
    cid = new_id()
    out = ocirt("create", "--bundle", make_bundle(["true"], edit=set_process(capabilities=caps)), cid, check=False)
    assert_failed_cleanly(ocirt, out, cid, "process.capabilities.bounding[1]", "CAP_NOT_A_CAP")


# ---------------------------------------------------------------- fds and stdio

# Listing the shell's own fds: `ls` runs as a child of the shell (the `; true`
# keeps the shell from exec'ing it), so the directory fd of ls is not in the list.
LIST_SHELL_FDS = "ls /proc/$$/fd; true"


def test_stray_fds_of_the_caller_are_closed(ocirt, make_bundle, tmp_path):
    stray = tmp_path / "stray"
    stray.write_text("secret\n")
    fd = os.open(stray, os.O_RDONLY)
    high = os.dup2(fd, 57, inheritable=True)
    try:
        out = run(ocirt, make_bundle(["sh", "-c", LIST_SHELL_FDS]), pass_fds=(fd, high))
        assert sorted(map(int, out.stdout.split())) == [0, 1, 2]
        # the same through create + start, where the init holds the fds longer
        cid = new_id()
        ocirt("create", "--bundle", make_bundle(["true"]), cid, pass_fds=(fd, high))
    finally:
        os.close(fd)
        os.close(high)
    pid = ocirt.state(cid)["pid"]
    # while created, the init (ocirt's Python) holds none of the caller's fds either
    held = [os.readlink(f"/proc/{pid}/fd/{name}") for name in os.listdir(f"/proc/{pid}/fd")]
    assert held and str(stray) not in held
    ocirt("delete", "--force", cid)


def test_stray_fds_closed_after_create_start(ocirt, make_bundle, tmp_path):
    stray = tmp_path / "stray"
    stray.write_text("secret\n")
    result = tmp_path / "result"
    fd = os.open(stray, os.O_RDONLY)
    cid = new_id()
    try:
        # files, not pipes: the created container keeps them open
        with open(result, "w") as out_file, open(tmp_path / "err", "w") as err_file:
            done = ocirt_with_stdio(ocirt, "create", "--bundle", make_bundle(["sh", "-c", LIST_SHELL_FDS]), cid,
                                    pass_fds=(fd,), stdout=out_file, stderr=err_file)
    finally:
        os.close(fd)
    assert done.returncode == 0, (tmp_path / "err").read_text()
    ocirt("start", cid)
    wait_stopped(ocirt, cid)
    ocirt("delete", cid)
    assert sorted(map(int, result.read_text().split())) == [0, 1, 2]


def _fds_at(*files):
    """preexec_fn putting files[i] at fd 3+i in the child (close_fds must be off)."""
    def place():
        for i, fd in enumerate(files):
            os.dup2(fd, 3 + i)
    return place


def test_preserve_fds(ocirt, make_bundle, tmp_path):
    first, second, third = tmp_path / "first", tmp_path / "second", tmp_path / "third"
    first.write_text("from fd 3\n")
    second.write_text("from fd 4\n")
    third.write_text("from fd 5\n")
    fds = [os.open(p, os.O_RDONLY) for p in (first, second, third)]
    try:
        script = "cat <&3; cat /proc/self/fd/4; " + LIST_SHELL_FDS
        out = ocirt("run", "--preserve-fds", "2", "--bundle", make_bundle(["sh", "-c", script]), new_id(),
                    close_fds=False, preexec_fn=_fds_at(*fds))
    finally:
        for fd in fds:
            os.close(fd)
    lines = out.stdout.splitlines()
    assert lines[:2] == ["from fd 3", "from fd 4"]
    assert sorted(map(int, lines[2:])) == [0, 1, 2, 3, 4]  # fd 5 is not passed


def test_preserve_fds_zero_closes_fd_3(ocirt, make_bundle, tmp_path):
    (tmp_path / "f").write_text("x")
    fd = os.open(tmp_path / "f", os.O_RDONLY)
    try:
        out = ocirt("run", "--bundle", make_bundle(["sh", "-c", LIST_SHELL_FDS]), new_id(),
                    close_fds=False, preexec_fn=_fds_at(fd))
    finally:
        os.close(fd)
    assert sorted(map(int, out.stdout.split())) == [0, 1, 2]


def test_stdio_reaches_the_process_untouched(ocirt, make_bundle, tmp_path):
    data = tmp_path / "stdin"
    data.write_text("skipped|the rest of the input\n")
    with open(data, "rb", buffering=0) as stdin:
        assert stdin.read(8) == b"skipped|"  # the container must continue from this offset: same open file
        out = run(ocirt, make_bundle(["sh", "-c", "cat; echo to-stderr >&2"]), stdin=stdin)
    assert out.stdout == "the rest of the input\n"
    assert out.stderr == "to-stderr\n"


def test_stdio_of_a_created_container(ocirt, make_bundle, tmp_path):
    """`create` hands its fds 0-2 to the container; `start` (with other stdio) does not matter."""
    (tmp_path / "in").write_text("hello from stdin\n")
    out_path, err_path = tmp_path / "out", tmp_path / "err"
    cid = new_id()
    with open(tmp_path / "in") as stdin, open(out_path, "w") as stdout, open(err_path, "w") as stderr:
        done = ocirt_with_stdio(ocirt, "create", "--bundle", make_bundle(["sh", "-c", "cat; echo oops >&2"]), cid,
                                stdin=stdin, stdout=stdout, stderr=stderr)
    assert done.returncode == 0, err_path.read_text()
    assert out_path.read_text() == "" and err_path.read_text() == ""
    started = ocirt("start", cid, input="not for the container\n")
    wait_stopped(ocirt, cid)
    ocirt("delete", cid)
    assert started.stdout == ""
    assert out_path.read_text() == "hello from stdin\n"
    assert err_path.read_text() == "oops\n"


# ---------------------------------------------------------------- signals

def test_default_signal_dispositions_and_empty_mask(ocirt, make_bundle):
    out = run(ocirt, make_bundle(["cat", "/proc/self/status"]))
    fields = status_fields(out.stdout)
    for key in ("SigBlk", "SigIgn", "SigCgt", "SigPnd", "ShdPnd"):
        assert int(fields[key], 16) == 0, (key, fields[key])


def test_callers_signal_state_does_not_leak(ocirt, make_bundle):
    def caller_state():
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR2, signal.SIGTERM, signal.SIGRTMIN])

    out = run(ocirt, make_bundle(["cat", "/proc/self/status"]), preexec_fn=caller_state, restore_signals=False)
    fields = status_fields(out.stdout)
    assert int(fields["SigBlk"], 16) == 0
    assert int(fields["SigIgn"], 16) == 0


def test_signal_state_through_create_and_start(ocirt, make_bundle):
    cid = new_id()
    ocirt("create", "--bundle", make_bundle(["sleep", "100"]), cid)
    pid = ocirt.state(cid)["pid"]
    ocirt("start", cid)
    wait_exec(pid, b"sleep")
    fields = read_status(pid)
    ocirt("delete", "--force", cid)
    for key in ("SigBlk", "SigIgn", "SigCgt"):
        assert int(fields[key], 16) == 0, (key, fields[key])


# ---------------------------------------------------------------- dumpability

# How to see from the host whether a process is dumpable: a probe running as
# root but without CAP_SYS_PTRACE reads /proc/PID/io (a PTRACE_MODE_READ check).
# When the uid matches, the kernel lets the probe in if
#   - the target is dumpable, or the probe has CAP_SYS_PTRACE over the user
#     namespace of the target's *memory* (mm->user_ns: the one the process was
#     in at its last execve), and
#   - the probe has CAP_SYS_PTRACE over the target's user namespace, or the
#     target's permitted caps are a subset of the probe's.
# So for a process that is still ocirt's Python (memory from the host, before
# the container's execve) but whose credentials are in a user namespace that
# host root owns, only dumpability decides. (/proc/PID/environ is no use:
# this kernel lets it be read either way.)
PROBE = ["setpriv", "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-sys_ptrace", "--"]


def probe_can_read(path):
    return subprocess.run([*PROBE, "cat", path], capture_output=True).returncode == 0


def test_dumpability_probe_works():
    """Calibration of the probe on our own process in the very situation of a
    created init: Python that unshared a user namespace and did not exec."""
    if subprocess.run(["setpriv", "--version"], capture_output=True).returncode != 0:
        pytest.skip("needs setpriv (util-linux)")
    script = ("import sys\n"
              "from ocirt.linux import syscalls\n"
              "syscalls.unshare(syscalls.CLONE_NEWUSER)\n"
              "syscalls.prctl(syscalls.PR_SET_DUMPABLE, int(sys.argv[1]))\n"
              "print('ready', flush=True)\n"
              "sys.stdin.read()\n")
    for dumpable in (1, 0):
        child = subprocess.Popen([sys.executable, "-c", script, str(dumpable)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout.readline() == "ready\n"
            assert probe_can_read(f"/proc/{child.pid}/io") == bool(dumpable)
        finally:
            child.stdin.close()
            child.wait()


def test_init_is_not_dumpable_until_exec(ocirt, make_bundle):
    """While `created` the init is ocirt's Python and must not be dumpable;
    after `start` the container's program is (execve resets it)."""
    if subprocess.run(["setpriv", "--version"], capture_output=True).returncode != 0:
        pytest.skip("needs setpriv (util-linux)")

    def userns(config):
        # container root is host root: no uid change that would itself clear dumpability
        config["linux"]["namespaces"].append({"type": "user"})
        config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
        config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
    cid = new_id()
    ocirt("create", "--bundle", make_bundle(["sleep", "100"], edit=userns), cid)
    try:
        pid = ocirt.state(cid)["pid"]
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            assert b"sleep" not in f.read()  # still ocirt's Python
        assert probe_can_read(f"/proc/{pid}/stat")
        assert not probe_can_read(f"/proc/{pid}/io")
    finally:
        ocirt("delete", "--force", cid)


def test_program_is_dumpable_after_exec(ocirt, make_bundle):
    """No user namespace, few caps: the probe (a superset of the program's caps,
    same uid) can read /proc/PID/io exactly when the program is dumpable."""
    if subprocess.run(["setpriv", "--version"], capture_output=True).returncode != 0:
        pytest.skip("needs setpriv (util-linux)")
    cid = new_id()
    ocirt("create", "--bundle", make_bundle(["sleep", "100"]), cid)
    try:
        pid = ocirt.state(cid)["pid"]
        ocirt("start", cid)
        wait_exec(pid, b"sleep")
        assert probe_can_read(f"/proc/{pid}/io")
    finally:
        ocirt("delete", "--force", cid)


# ---------------------------------------------------------------- hostname, domainname, sysctl

def test_hostname_and_domainname(ocirt, make_bundle):
    out = run(ocirt, make_bundle(["sh", "-c", "hostname; cat /proc/sys/kernel/domainname"],
                                 hostname="box-1", domainname="example.org"))
    assert out.stdout == "box-1\nexample.org\n"


def without_uts(config):
    config["linux"]["namespaces"] = [ns for ns in config["linux"]["namespaces"] if ns["type"] != "uts"]


@pytest.mark.parametrize("key", ["hostname", "domainname"])
def test_name_without_uts_namespace_is_a_config_error(ocirt, make_bundle, key):
    def edit(config):
        without_uts(config)
        config.pop("hostname", None)
        config[key] = "nope"
    cid = new_id()
    out = ocirt("create", "--bundle", make_bundle(["true"], edit=edit), cid, check=False)
    assert_failed_cleanly(ocirt, out, cid, key, "UTS namespace")
    assert os.uname().nodename != "nope"


def test_sysctl_in_own_namespaces_without_readonly_proc_sys(ocirt, make_bundle):
    def edit(config):
        config["linux"]["readonlyPaths"] = [p for p in config["linux"]["readonlyPaths"] if p != "/proc/sys"]
        config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shm_rmid_forced": "1"}
    with open("/proc/sys/kernel/shm_rmid_forced") as f:
        host_before = f.read()
    out = run(ocirt, make_bundle(["cat", "/proc/sys/net/ipv4/ip_forward", "/proc/sys/kernel/shm_rmid_forced"],
                                 edit=edit))
    assert out.stdout == "1\n1\n"
    with open("/proc/sys/kernel/shm_rmid_forced") as f:
        assert f.read() == host_before  # the container's own ipc namespace, not the host's


def test_sysctl_with_default_readonly_paths(ocirt, make_bundle):
    def edit(config):
        config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shm_rmid_forced": "1"}
    out = run(ocirt, make_bundle(["sh", "-c", "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shm_rmid_forced; "
                                              "echo 0 >/proc/sys/kernel/shm_rmid_forced || echo ro"], edit=edit))
    # applied, and /proc/sys still read-only for the container afterwards
    assert out.stdout.startswith("1\n1\n") and out.stdout.endswith("ro\n")


@pytest.mark.parametrize("flag", [None, "--no-new-keyring"])
def test_session_keyring(ocirt, make_bundle, flag):
    """Like runc, each container gets its own session keyring unless --no-new-keyring."""
    def edit(config):
        config["linux"]["maskedPaths"] = []  # /proc/keys is masked by default
    cid = new_id()
    bundle = make_bundle(["cat", "/proc/keys"], edit=edit)
    out = ocirt("run", *([flag] if flag else []), "--bundle", bundle, cid).stdout
    assert (f"_ses.{cid}" in out) == (flag is None), out
