#!/usr/bin/env python3
"""Benchmark ocirt, runc and crun side by side (see bench/README.md).

    python3 bench/run.py                  # everything, full run counts
    python3 bench/run.py --quick          # fewer runs, for a smoke test
    python3 bench/run.py --sections run,commands --runtimes runc,crun

Needs root, hyperfine and busybox-static. The driver re-executes itself in a
private mount namespace where /sys/fs/cgroup/unified/cgroup.controllers reads
empty (crun 1.8.1 refuses the hybrid layout otherwise), so every runtime sees
the same cgroup view. It prints a markdown report on stdout and writes it to
bench/results/latest.md (raw numbers in latest.json).
"""

import argparse
import ctypes
import datetime
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUNDLE_SRC = HERE.parent / "bundles" / "busybox"
RESULTS_DIR = HERE / "results"
UNIFIED_CONTROLLERS = Path("/sys/fs/cgroup/unified/cgroup.controllers")
INNER_ENV = "OCIRT_BENCH_IN_PRIVATE_MOUNT_NS"
# The launcher install.sh writes (ocirt/launcher.py), beside the interpreter running this driver.
OCIRT_BESIDE_PYTHON = Path(sys.executable).parent / "ocirt"

RUNTIMES = ("ocirt", "runc", "crun")
SECTIONS = ("run", "lifecycle", "loop", "commands", "rss", "floor")
LOOP_COUNT = 100
KiB, MiB = 1024, 1024 * 1024
PAGE = os.sysconf("SC_PAGE_SIZE")
FLOOR_LOW, FLOOR_HIGH = 64 * KiB, 16 * MiB
PR_SET_CHILD_SUBREAPER = 36


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def die(msg):
    print(f"bench: {msg}", file=sys.stderr)
    sys.exit(1)


# --- processes -----------------------------------------------------------------
# The driver is a child subreaper: a container's init that outlives the
# runtime call that created it is re-parented to us (as to containerd's shim
# or conmon) and reaped at once, so "state" never sees a lingering zombie.

def become_subreaper():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        die(f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(ctypes.get_errno())}")


def reap_orphans():
    """Reap re-parented container processes that have exited (non-blocking)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def run_reaping(argv, quiet=False):
    """Run argv (hyperfine) with its stdout on our stderr; while waiting for
    it, reap whatever else gets re-parented to us. Returns the exit code."""
    out = (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0) if quiet \
        else (os.POSIX_SPAWN_DUP2, 2, 1)
    pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=[out])
    while True:
        wpid, status = os.wait()
        if wpid == pid:
            return os.waitstatus_to_exitcode(status)


def call(argv, timeout=60):
    """Run argv with stdin /dev/null and output to a file (a container's init
    inherits stdout/stderr, so pipes would never reach EOF). -> (rc, output)"""
    with tempfile.TemporaryFile(mode="w+") as out:
        try:
            rc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            rc = 124
            print(f"timed out after {timeout} s", file=out)
        except OSError as e:
            rc = 127
            print(e, file=out)
        finally:
            reap_orphans()
        out.seek(0)
        return rc, out.read().strip()


# --- runtimes and bundles ---------------------------------------------------------

def find_runtime(name):
    """-> argv prefix for the runtime, or None if it is not installed."""
    if name == "ocirt" and os.environ.get("OCIRT"):
        argv = shlex.split(os.environ["OCIRT"])
    elif name == "ocirt" and os.access(OCIRT_BESIDE_PYTHON, os.X_OK):
        # Not `command -v ocirt`: with pyenv that is a bash shim costing tens of ms per call.
        argv = [str(OCIRT_BESIDE_PYTHON)]
    else:
        argv = [name]
    path = shutil.which(argv[0])
    return [path, *argv[1:]] if path else None


class Runtime:
    def __init__(self, name, argv, work):
        self.name, self.argv = name, argv
        self.dir = work / name
        self.root = self.dir / "root"
        self.bundle = self.dir / "bundle"
        self.ids = set()
        self.version = None

    def cmd(self, *args):
        return [*self.argv, "--root", str(self.root), *args]

    def sh(self, *args):
        return shlex.join(self.cmd(*args))

    def cid(self, section):
        cid = f"ocb{os.getpid()}-{self.name}-{section}"
        self.ids.add(cid)
        return cid

    def pidfile(self, cid):
        return str(self.dir / f"{cid}.pid")

    def script(self, name, body):
        """Write a small sh script and return the argv that runs it."""
        path = self.dir / f"{name}.sh"
        path.write_text("#!/bin/sh\n" + body)
        return ["sh", str(path)]

    def delete(self, cid):
        call(self.cmd("delete", "--force", cid), timeout=30)

    def cleanup(self):
        for cid in sorted(self.ids):
            self.delete(cid)


def bench_config(args, memory=None):
    config = json.loads((BUNDLE_SRC / "config.json").read_text())
    config["process"]["args"] = args
    if memory is not None:
        config["linux"].setdefault("resources", {})["memory"] = {
            "limit": memory, "swap": memory}
    return config


def make_bundle(path, rootfs_template, config):
    path.mkdir(parents=True)
    shutil.copytree(rootfs_template, path / "rootfs", symlinks=True)
    (path / "config.json").write_text(json.dumps(config, indent=2))


# --- the private mount namespace -----------------------------------------------

def reexec_in_private_mount_namespace():
    if os.environ.get(INNER_ENV) == "1":
        return
    if not shutil.which("unshare"):
        die("unshare (util-linux) is needed")
    os.environ[INNER_ENV] = "1"
    argv = ["unshare", "--mount", "--propagation", "private",
            sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]]
    os.execvp(argv[0], argv)


def hide_cgroup2_controllers(work):
    """Bind-mount an empty file over the hybrid cgroup2 mount's
    cgroup.controllers (only inside our private mount namespace)."""
    if not UNIFIED_CONTROLLERS.exists():
        return "no hybrid cgroup2 mount; left as is"
    empty = work / "empty-cgroup.controllers"
    empty.write_text("")
    rc, out = call(["mount", "--bind", str(empty), str(UNIFIED_CONTROLLERS)])
    if rc != 0:
        die(f"bind mount over {UNIFIED_CONTROLLERS} failed: {out}")
    if UNIFIED_CONTROLLERS.read_text().strip():
        die(f"{UNIFIED_CONTROLLERS} still lists controllers after the bind mount")
    return ("cgroup v1 hybrid; in the bench's private mount namespace "
            f"{UNIFIED_CONTROLLERS} reads empty (same view for every runtime)")


# --- benchmarks ----------------------------------------------------------------

class Plan:
    """What one runtime runs for one benchmark row."""

    def __init__(self, command, prepare=None, setup=(), probe=None, ids=()):
        self.command = command      # argv timed by hyperfine
        self.prepare = prepare      # argv run before every timed run (untimed)
        self.setup = list(setup)    # argvs run once before hyperfine
        self.probe = probe or command  # argv tried once to see if it works
        self.ids = list(ids)        # containers to delete afterwards


def wait_stopped_sh(rt, cid):
    return (f"n=0\nuntil {rt.sh('state', cid)} 2>/dev/null | grep -q '\"stopped\"'; do\n"
            f"    n=$((n+1)); [ $n -lt 5000 ] || {{ echo '{cid} never stopped' >&2; exit 1; }}\n"
            f"done\n")


def plan_run(rt):
    cid = rt.cid("run")
    return Plan(rt.cmd("run", "--bundle", str(rt.bundle), cid), ids=[cid])


def plan_lifecycle(rt):
    cid = rt.cid("life")
    body = ("set -e\n"
            f"{rt.sh('create', '--bundle', str(rt.bundle), '--pid-file', rt.pidfile(cid), cid)}\n"
            f"{rt.sh('start', cid)}\n"
            + wait_stopped_sh(rt, cid) +
            f"{rt.sh('delete', cid)}\n")
    return Plan(rt.script("lifecycle", body), ids=[cid])


def plan_loop(rt):
    cid = rt.cid("loop")
    run = rt.sh("run", "--bundle", str(rt.bundle), cid)
    body = (f"i=0\nwhile [ $i -lt {LOOP_COUNT} ]; do\n"
            f"    {run} || exit 1\n    i=$((i+1))\ndone\n")
    return Plan(rt.script("loop", body), probe=shlex.split(run), ids=[cid])


def recreate_sh(rt, cid):
    return (f"{rt.sh('delete', '--force', cid)} >/dev/null 2>&1\n"
            f"{rt.sh('create', '--bundle', str(rt.bundle), '--pid-file', rt.pidfile(cid), cid)} || exit 1\n")


def plan_state(rt):
    cid = rt.cid("state")
    return Plan(rt.cmd("state", cid),
                setup=[rt.cmd("create", "--bundle", str(rt.bundle), "--pid-file", rt.pidfile(cid), cid)],
                ids=[cid])


def plan_start(rt):
    cid = rt.cid("start")
    return Plan(rt.cmd("start", cid), prepare=rt.script("prep-start", recreate_sh(rt, cid)), ids=[cid])


def plan_kill(rt):
    cid = rt.cid("kill")
    # kills a container in "created" state: its init is alive, blocked on the exec fifo
    return Plan(rt.cmd("kill", cid, "9"), prepare=rt.script("prep-kill", recreate_sh(rt, cid)), ids=[cid])


def plan_delete(rt):
    cid = rt.cid("delete")
    body = recreate_sh(rt, cid) + f"{rt.sh('start', cid)} || exit 1\n" + wait_stopped_sh(rt, cid)
    return Plan(rt.cmd("delete", cid), prepare=rt.script("prep-delete", body), ids=[cid])


TIMED_ROWS = {  # section -> [(row label, planner)]
    "run": [("`run` /bin/true", plan_run)],
    "lifecycle": [("create + start + poll `state` + delete", plan_lifecycle)],
    "loop": [(f"{LOOP_COUNT} sequential `run`s (total)", plan_loop)],
    "commands": [("`state` (created container)", plan_state),
                 ("`start`", plan_start),
                 ("`kill` 9 (created container)", plan_kill),
                 ("`delete` (stopped container)", plan_delete)],
}


def try_plan(rt, plan):
    """Run the plan once outside hyperfine. -> None if it works, else
    {"error": message, "command": what failed}."""
    try:
        for argv in [*plan.setup, *([plan.prepare] if plan.prepare else []), plan.probe]:
            rc, out = call(argv)
            if rc != 0:
                return {"error": last_line(out), "command": f"{describe(argv, rt)} exited {rc}"}
        return None
    finally:
        for cid in plan.ids:
            rt.delete(cid)


def describe(argv, rt):
    """A short form of a command line for error messages."""
    text = shlex.join(argv).replace(str(rt.dir.parent) + "/", "")
    return f"`{text}`"


def last_line(text):
    """The last non-empty line of a command's output (where runtimes put the error)."""
    lines = [l for l in text.splitlines() if l.strip()]
    return lines[-1][:200] if lines else "(no output)"


def hyperfine_row(label, planner, runtimes, runs, warmup, work, quiet):
    """Time one row for every runtime in a single hyperfine invocation."""
    row, plans = {}, {}
    for rt in runtimes:
        plan = planner(rt)
        error = try_plan(rt, plan)
        if error:
            log(f"{rt.name}: {label}: {error['command']}: {error['error']}")
            row[rt.name] = error
        else:
            plans[rt.name] = plan
    if not plans:
        return row
    export = work / f"hyperfine-{len(list(work.glob('hyperfine-*')))}.json"
    argv = ["hyperfine", "-N", "--runs", str(runs), "--warmup", str(warmup),
            "--export-json", str(export)]
    for plan in plans.values():
        if plan.prepare:
            argv += ["--prepare", shlex.join(plan.prepare)]
    for name, plan in plans.items():
        argv += ["--command-name", name, shlex.join(plan.command)]
    by_name = {rt.name: rt for rt in runtimes}
    try:
        for name, plan in plans.items():
            for argv_setup in plan.setup:
                rc, out = call(argv_setup)
                if rc != 0:
                    raise RuntimeError(f"{name}: setup failed: {last_line(out)}")
        log(f"hyperfine: {label}")
        rc = run_reaping(argv, quiet)
        if rc != 0:
            raise RuntimeError(f"hyperfine exited {rc}")
        for result in json.loads(export.read_text())["results"]:
            row[result["command"]] = {
                "median": result["median"], "mean": result["mean"],
                "stddev": result["stddev"], "min": result["min"], "max": result["max"],
                "user": result["user"], "system": result["system"],
                "cpu": result["user"] + result["system"], "runs": len(result["times"])}
    except RuntimeError as e:
        log(f"{label}: {e}")
        for name in plans:
            row.setdefault(name, {"error": str(e)})
    finally:
        for name, plan in plans.items():
            for cid in plan.ids:
                by_name[name].delete(cid)
    return row


def peak_rss(rt, samples):
    """Median peak RSS (KiB) of `run` /bin/true as GNU time's %M reports it:
    ru_maxrss, the largest single process of the run. (GNU time, not
    os.wait4 here: a child spawned from this Python process would carry the
    driver's own high-water mark across exec.)"""
    gnu_time = shutil.which("time", path="/usr/bin:/bin")
    if not gnu_time:
        return {"error": "GNU time is not installed: apt-get install time"}
    cid = rt.cid("rss")
    out = rt.dir / "rss.txt"
    values = []
    for _ in range(samples):
        rc, output = call([gnu_time, "-o", str(out), "-f", "%M",
                           *rt.cmd("run", "--bundle", str(rt.bundle), cid)])
        if rc != 0:
            rt.delete(cid)
            return {"error": last_line(output), "command": f"`{rt.name} run` exited {rc}"}
        values.append(int(out.read_text().split()[-1]))
    return {"rss_kib": statistics.median(values), "samples": values}


def memory_floor(rt, rootfs_template, repeats):
    """Bisect the smallest memory limit (swap = limit) at which `run`
    /bin/true succeeds, to page granularity; median of `repeats` bisections
    (the result of a single one moves by some 10% for a Go runtime)."""
    bundle = rt.dir / "bundle-mem"
    make_bundle(bundle, rootfs_template, bench_config(["/bin/true"]))
    cid = rt.cid("floor")
    tries, last_output = [], [""]

    def works(limit):
        (bundle / "config.json").write_text(json.dumps(bench_config(["/bin/true"], limit)))
        rc, output = call(rt.cmd("run", "--bundle", str(bundle), cid), timeout=30)
        rt.delete(cid)
        tries.append((limit, rc))
        last_output[0] = output
        return rc == 0

    if not works(FLOOR_HIGH):
        return {"error": last_line(last_output[0]), "tries": tries,
                "command": f"`{rt.name} run` fails even with a {fmt_bytes(FLOOR_HIGH)} limit"}
    if works(FLOOR_LOW):
        return {"floor": FLOOR_LOW, "bound": "<=", "tries": tries}
    floors = []
    for _ in range(repeats):
        lo, hi = FLOOR_LOW, FLOOR_HIGH
        while hi - lo > PAGE:            # invariant: lo failed, hi worked
            mid = (lo + hi) // 2 // PAGE * PAGE
            if works(mid):
                hi = mid
            else:
                lo = mid
        floors.append(hi)
    return {"floor": statistics.median(floors), "floors": floors, "tries": tries}


# --- report --------------------------------------------------------------------

def fmt_time(seconds):
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 0.001:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def fmt_bytes(n):
    return f"{n / MiB:.2f} MiB" if n >= MiB else f"{n / KiB:.0f} KiB"


def machine_info():
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "kernel": platform.release(), "cpu": cpu, "cores": os.cpu_count(),
            "python": platform.python_version(), "checkout": checkout()}


def checkout():
    """The commit of this checkout, and whether ocirt/ differs from it."""
    rc, sha = call(["git", "-C", str(HERE.parent), "rev-parse", "--short", "HEAD"], timeout=10)
    if rc != 0:
        return "unknown"
    rc, dirty = call(["git", "-C", str(HERE.parent), "status", "--porcelain", "--", "ocirt"], timeout=10)
    return sha + (" with uncommitted changes in ocirt/" if rc != 0 or dirty else "")


def load_average():
    return os.getloadavg()[0]


def tool_version(argv):
    rc, out = call([*argv, "--version"], timeout=10)
    return out.splitlines()[0].strip() if rc == 0 and out else "unknown"


def render(info, runtimes, results, missing, notes):
    present = {rt.name for rt in runtimes} | set(missing)
    names = [n for n in RUNTIMES if n in present]
    footnotes, commands = [], []

    def cell(entry, value_of, fmt):
        if entry is None:
            return "missing"
        if "error" in entry:   # one footnote per distinct message
            if entry["error"] not in footnotes:
                footnotes.append(entry["error"])
                commands.append(entry.get("command", ""))
            return f"failed[^{footnotes.index(entry['error']) + 1}]"
        prefix = "≤ " if entry.get("bound") == "<=" else ""
        return prefix + fmt(value_of(entry))

    others = [o for o in ("runc", "crun") if "ocirt" in names and o in names]

    def ratio(row, other, value_of):
        a, b = row.get("ocirt"), row.get(other)
        if not a or not b or "error" in a or "error" in b:
            return "–"
        return f"{value_of(a) / value_of(b):.2f}×"

    def table(title, first_column, rows):
        """rows: [(label, {runtime: entry}, value_of, fmt)]"""
        lines = [f"### {title}", "",
                 f"| {first_column} | " + " | ".join(names + [f"ocirt/{o}" for o in others]) + " |",
                 "|---|" + "---:|" * (len(names) + len(others))]
        for label, row, value_of, fmt in rows:
            cells = [cell(row.get(n), value_of, fmt) for n in names]
            cells += [ratio(row, o, value_of) for o in others]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        return lines + [""]

    versions = ", ".join(f"{rt.name} `{rt.version}`" for rt in runtimes)
    versions += "".join(f", {n} **missing**" for n in missing)
    out = ["## ocirt vs runc vs crun", "",
           f"- date: {info['date']}",
           f"- machine: {info['cpu']}, {info['cores']} cores, kernel {info['kernel']}",
           f"- runtimes: {versions}",
           f"- tools: {info['hyperfine']}, Python {info['python']}",
           f"- ocirt checkout: {info['checkout']}",
           f"- mode: {info['mode']}",
           f"- load before the run (1-minute average): {info['load']:.2f}; other work inflates the wall times,"
           " ocirt's more than the others' (the bench itself adds about 1 while it runs)",
           f"- cgroups: {info['cgroups']}",
           ""]
    timed = [(label, results[label]) for section in SECTIONS
             for label, _ in TIMED_ROWS.get(section, []) if label in results]
    if timed:
        out += table("Wall time (median; lower is better)", "benchmark",
                     [(label, row, lambda e: e["median"], fmt_time) for label, row in timed])
        out += table("CPU time (user + sys, mean per run)", "benchmark",
                     [(label, row, lambda e: e["cpu"], fmt_time) for label, row in timed])
    memory = []
    if "rss" in results:
        memory.append(("peak RSS of one `run` (largest process)", results["rss"],
                       lambda e: e["rss_kib"] * KiB, fmt_bytes))
    if "floor" in results:
        memory.append(("memory floor: smallest limit (= swap) for `run` /bin/true",
                       results["floor"], lambda e: e["floor"], fmt_bytes))
    if memory:
        out += table("Memory", "measure", memory)
    out += notes
    if footnotes:
        out += [f"[^{i}]: {text}" + (f" (first seen: {cmd})" if cmd else "")
                for i, (text, cmd) in enumerate(zip(footnotes, commands), 1)] + [""]
    return "\n".join(out)


# --- main ----------------------------------------------------------------------

def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="few runs (5 per command, 1 round of the loop): a smoke test, noisy numbers")
    p.add_argument("--sections", default=",".join(SECTIONS),
                   help=f"comma-separated subset of: {', '.join(SECTIONS)} (default: all)")
    p.add_argument("--runtimes", default=",".join(RUNTIMES),
                   help="comma-separated subset of: ocirt, runc, crun (default: all)")
    p.add_argument("--runs", type=int, help="hyperfine runs per command (default 30, quick 5)")
    p.add_argument("--output", type=Path, default=RESULTS_DIR / "latest.md",
                   help="where to write the markdown report (default: bench/results/latest.md); "
                        "raw numbers go beside it as .json")
    p.add_argument("--no-save", action="store_true", help="only print the report")
    p.add_argument("--quiet", action="store_true", help="hide hyperfine's own output")
    p.add_argument("--keep", action="store_true", help="keep the work directory (bundles, scripts)")
    args = p.parse_args()
    args.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    args.runtimes = [s.strip() for s in args.runtimes.split(",") if s.strip()]
    for s in args.sections:
        if s not in SECTIONS:
            p.error(f"unknown section {s!r}; choose from {', '.join(SECTIONS)}")
    for r in args.runtimes:
        if r not in RUNTIMES:
            p.error(f"unknown runtime {r!r}; choose from {', '.join(RUNTIMES)}")
    return args


def check_leftovers(runtimes, work):
    """Warn about containers, cgroups or mounts the runtimes left behind."""
    prefix = f"ocb{os.getpid()}-"
    for rt in runtimes:
        if rt.root.is_dir():
            for entry in rt.root.iterdir():
                if entry.is_dir():
                    log(f"warning: {rt.name} left container state {entry}")
                    rt.delete(entry.name)
    for dirpath, dirnames, _ in os.walk("/sys/fs/cgroup"):
        for d in dirnames:
            if d.startswith(prefix):
                log(f"warning: cgroup left behind: {dirpath}/{d}")
                try:
                    os.rmdir(os.path.join(dirpath, d))
                except OSError as e:
                    log(f"  cannot remove it: {e}")
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mountpoint = line.split()[4]
            if str(work) in line and mountpoint != str(UNIFIED_CONTROLLERS):
                log(f"warning: mount left behind: {mountpoint}")


def main():
    args = parse_args()
    if os.geteuid() != 0:
        die("run me as root (the runtimes create namespaces and cgroups)")
    if not shutil.which("hyperfine"):
        die("hyperfine is not installed: apt-get install hyperfine")
    reexec_in_private_mount_namespace()
    become_subreaper()

    quick = args.quick
    runs = args.runs or (5 if quick else 30)
    warmup = 1 if quick else 3
    loop_runs = 1 if quick else 3
    rss_samples = 3 if quick else 10
    floor_repeats = 1 if quick else 3

    load = load_average()
    work = Path(tempfile.mkdtemp(prefix="ocirt-bench-"))
    runtimes, missing = [], []
    try:
        cgroups_note = hide_cgroup2_controllers(work)
        rootfs = work / "rootfs"
        rc, out = call([str(BUNDLE_SRC / "make-rootfs"), str(rootfs)])
        if rc != 0:
            die(f"make-rootfs failed: {out}")
        for name in args.runtimes:
            argv = find_runtime(name)
            if argv is None:
                log(f"{name}: not found" + (" (set $OCIRT or put ocirt on PATH)" if name == "ocirt" else "")
                    + "; marked missing")
                missing.append(name)
                continue
            rt = Runtime(name, argv, work)
            rt.root.mkdir(parents=True)
            make_bundle(rt.bundle, rootfs, bench_config(["/bin/true"]))
            rt.version = tool_version(argv)
            runtimes.append(rt)
        if not runtimes:
            die("none of the runtimes is installed")

        results = {}
        try:
            for section in args.sections:
                if section in TIMED_ROWS:
                    for label, planner in TIMED_ROWS[section]:
                        n, w = (loop_runs, 0) if section == "loop" else (runs, warmup)
                        results[label] = hyperfine_row(label, planner, runtimes, n, w, work, args.quiet)
                elif section == "rss":
                    log("peak RSS")
                    results["rss"] = {rt.name: peak_rss(rt, rss_samples) for rt in runtimes}
                elif section == "floor":
                    results["floor"] = {}
                    for rt in runtimes:
                        log(f"memory floor: {rt.name}")
                        results["floor"][rt.name] = memory_floor(rt, rootfs, floor_repeats)
        finally:
            for rt in runtimes:
                rt.cleanup()
            check_leftovers(runtimes, work)

        info = machine_info()
        info["load"] = load
        info["hyperfine"] = tool_version(["hyperfine"])
        mode = [f"{runs} runs + {warmup} warmup per command"]
        if "loop" in args.sections:
            mode.append(f"{loop_runs} round(s) of the {LOOP_COUNT}-run loop")
        if "rss" in args.sections:
            mode.append(f"median of {rss_samples} RSS samples")
        if "floor" in args.sections:
            mode.append(f"median of {floor_repeats} bisection(s) for the memory floor")
        info["mode"] = ("quick" if quick else "full") + ": " + ", ".join(mode)
        info["cgroups"] = cgroups_note
        notes = ["Each runtime has its own `--root` and bundle copy (busybox rootfs, "
                 "`process.args` = `/bin/true`). Ratios > 1 mean ocirt is slower / bigger. "
                 "See bench/README.md for what each number means.", ""]
        report = render(info, runtimes, results, missing, notes)
        print(report)
        if not args.no_save:
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(report)
            raw = {"info": info, "runtimes": {rt.name: {"argv": rt.argv, "version": rt.version}
                                              for rt in runtimes},
                   "missing": missing, "results": results}
            args.output.with_suffix(".json").write_text(json.dumps(raw, indent=2) + "\n")
            log(f"written to {args.output}")
    finally:
        if args.keep:
            log(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
