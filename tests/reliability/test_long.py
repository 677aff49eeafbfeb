"""The long reliability runs: the full counts behind the fast slices in
tests/integration (test_fuzz, test_faults, test_concurrency).

Not part of the default suite: these tests skip themselves unless this
directory is named on the command line or OCIRT_RELIABILITY=1:

    python3 -m pytest tests/reliability -s        # about 45 minutes on 2 CPUs

Counts can be changed with the same variables as the fast slices
(OCIRT_FUZZ_CASES, OCIRT_SEQUENTIAL, OCIRT_ALIVE, OCIRT_PARALLEL,
OCIRT_RACE_ROUNDS, OCIRT_RANDOM_KILLS, OCIRT_FAULT_REPEATS). The figures are
printed (-s) and, with OCIRT_RELIABILITY_REPORT=<file>, written there as
JSON lines. docs/reliability.md has the figures of the last full run.
"""
import json
import os
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import test_concurrency as concurrency  # noqa: E402
import test_faults as faults  # noqa: E402
import test_fuzz as fuzz  # noqa: E402
from test_fuzz import world  # noqa: E402,F401  (the fixture)


def count(name, default):
    return int(os.environ.get(name, default))


@pytest.fixture(autouse=True)
def only_when_asked(request):
    args = [str(a) for a in request.config.invocation_params.args]
    if os.environ.get("OCIRT_RELIABILITY") != "1" and not any("reliability" in a for a in args):
        pytest.skip("long run: python3 -m pytest tests/reliability (see docs/reliability.md)")


@pytest.fixture(autouse=True)
def nothing_left(request, tmp_path):
    """The integration suite's leak check (tests/conftest.py `no_leaks` only looks at tests/integration)."""
    from conftest import _cgroup_dirs_named, _mounts_mentioning, _processes_in_cgroups_named, reap_zombie_children

    yield
    runtime = request.node.funcargs.get("ocirt")
    if runtime is None:
        return
    reap_zombie_children()
    root = tmp_path / "root"
    assert not root.is_dir() or not any(root.iterdir()), sorted(p.name for p in root.iterdir())
    assert _mounts_mentioning(str(tmp_path)) == []
    assert [d for p in ("ocirt-test-",) for d in _cgroup_dirs_named(p)
            if any(cid in d for cid in runtime.ids)] == []
    assert [p for cid in runtime.ids for p in _processes_in_cgroups_named(cid)] == []


def report(name, figures):
    line = {"test": name, **figures}
    print(f"\n{name}: {json.dumps(figures, indent=1, default=str)}")
    path = os.environ.get("OCIRT_RELIABILITY_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(line, default=str) + "\n")


def flat_summary(figures):
    return {command: {"invocations": n, "median s first tenth": round(t0, 4), "median s last tenth": round(t1, 4),
                      "median KiB first tenth": m0, "median KiB last tenth": m1}
            for command, (n, t0, t1, m0, m1) in figures.summary().items()}


# ---------------------------------------------------------------- load

def test_sequential_containers_long(ocirt, make_bundle, tmp_path):
    n = count("OCIRT_SEQUENTIAL", 1000)
    began = time.monotonic()
    figures = concurrency.sequential_load(ocirt, make_bundle, tmp_path, n)
    report("sequential", {"containers": n, "seconds": round(time.monotonic() - began), **flat_summary(figures)})


def test_many_alive_long(ocirt, make_bundle, tmp_path):
    n = count("OCIRT_ALIVE", 100)
    began = time.monotonic()
    figures = concurrency.alive_load(ocirt, make_bundle, tmp_path, n)
    report("alive at once", {"containers": n, "seconds": round(time.monotonic() - began), **flat_summary(figures)})


# ---------------------------------------------------------------- concurrency

def test_parallel_lifecycles_long(ocirt, make_bundle):
    n = count("OCIRT_PARALLEL", 100)
    peak = concurrency.parallel_lifecycles(ocirt, make_bundle, n)
    report("parallel lifecycles", {"containers": n, "running at once": peak})


def test_same_id_races_long(ocirt, make_bundle):
    rounds = count("OCIRT_RACE_ROUNDS", 30)
    for _ in range(rounds):
        concurrency.same_id_race(ocirt, make_bundle, 20)
    report("same-id create races", {"rounds": rounds, "racers per round": 20, "winners per round": 1})


@pytest.mark.parametrize("test", ["test_delete_force_races_start", "test_kill_races_start",
                                  "test_create_races_delete_force"])
def test_command_races_long(ocirt, make_bundle, monkeypatch, test):
    rounds = count("OCIRT_RACE_ROUNDS", 30)
    monkeypatch.setenv("OCIRT_RACE_ROUNDS", str(rounds))
    getattr(concurrency, test)(ocirt, make_bundle)
    report(test, {"rounds": rounds * 3})


# ---------------------------------------------------------------- faults

def test_fault_points_repeated(ocirt, make_bundle, tmp_path):
    repeats = count("OCIRT_FAULT_REPEATS", 10)
    injected = 0
    for _ in range(repeats):
        for point in faults.FAULT_POINTS["create"]:
            for force in (True, False):
                faults.test_create_killed(ocirt, make_bundle, tmp_path, point, force)
                injected += 1
        for point in faults.FAULT_POINTS["start"]:
            faults.test_start_killed(ocirt, make_bundle, point)
            injected += 1
        for point in faults.FAULT_POINTS["exec"]:
            faults.test_exec_killed(ocirt, make_bundle, point)
            injected += 1
        for point in faults.FAULT_POINTS["delete"]:
            faults.test_delete_killed(ocirt, make_bundle, point)
            injected += 1
    report("fault points", {"points": sum(map(len, faults.FAULT_POINTS.values())), "repeats": repeats,
                            "faults injected": injected})


def test_random_kills_long(ocirt, make_bundle):
    kills = count("OCIRT_RANDOM_KILLS", 300)
    outcomes = faults.random_kills(ocirt, make_bundle, kills)
    report("random kills during create", {"kills": kills, "status afterwards": outcomes})


# ---------------------------------------------------------------- bad input

def test_fuzz_long(ocirt, world, monkeypatch):
    cases = count("OCIRT_FUZZ_CASES", 10000)
    monkeypatch.setattr(fuzz, "CASES", cases)
    began = time.monotonic()
    fuzz.test_generated_bad_input(ocirt, world)
    report("generated bad input", {"cases": cases, "seconds": round(time.monotonic() - began)})
