"""`update` and `events`: change a live container's limits, and report its statistics."""
import os

from ocirt import state as st
from ocirt.container import Container
from ocirt.errors import OcirtError

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_bytes(text, option):
    """"64m", "1G", "512k", "1048576", "-1" (unlimited), as docker's RAMInBytes reads them."""
    raw = text.strip().lower()
    if raw == "-1":
        return -1
    number = raw.rstrip("bkmgtpi")
    suffix = raw[len(number):].replace("ib", "").replace("b", "") if raw[len(number):] not in ("", "b") else ""
    try:
        value = float(number)
    except ValueError:
        raise OcirtError(f"invalid value for {option}: {text!r}") from None
    if suffix not in _UNITS or value < 0:
        raise OcirtError(f"invalid value for {option}: {text!r}")
    return int(value * _UNITS[suffix])


def _int(text, option):
    try:
        return int(text)
    except ValueError:
        raise OcirtError(f"invalid value for {option}: {text!r}: expected a number") from None


# option key -> (section, field, parser)
FLAG_FIELDS = {
    "memory": ("memory", "limit", parse_bytes),
    "memory_swap": ("memory", "swap", parse_bytes),
    "memory_reservation": ("memory", "reservation", parse_bytes),
    "kernel_memory": ("memory", "kernel", parse_bytes),
    "kernel_memory_tcp": ("memory", "kernelTCP", parse_bytes),
    "cpu_shares": ("cpu", "shares", _int),
    "cpu_quota": ("cpu", "quota", _int),
    "cpu_period": ("cpu", "period", _int),
    "cpu_rt_runtime": ("cpu", "realtimeRuntime", _int),
    "cpu_rt_period": ("cpu", "realtimePeriod", _int),
    "cpuset_cpus": ("cpu", "cpus", lambda v, o: v),
    "cpuset_mems": ("cpu", "mems", lambda v, o: v),
    "pids_limit": ("pids", "limit", _int),
    "blkio_weight": ("blockIO", "weight", _int),
}


def resources_from_flags(options):
    resources = {}
    for key, (section, field, parse) in FLAG_FIELDS.items():
        if options.get(key) is not None:
            resources.setdefault(section, {})[field] = parse(options[key], "--" + key.replace("_", "-"))
    return resources


def read_resources(path):
    """--resources FILE, or - for standard input (containerd's form)."""
    import json
    import sys

    try:
        data = sys.stdin.buffer.read() if path == "-" else open(path, "rb").read()
    except OSError as e:
        raise OcirtError(f"cannot read resources {path}: {e.strerror}") from None
    try:
        return json.loads(data)
    except ValueError as e:
        raise OcirtError(f"invalid JSON in resources {path}: {e}") from None


def update(store, container_id, resources):
    """Apply `resources` to the live cgroups; returns warnings.

    Device rules are left alone, as runc does: rewriting them would briefly
    take every device away from the running container.
    """
    from ocirt import spec

    c = Container.load(store, container_id)
    st.check_allowed("update", c.status(), container_id)
    resources = {k: v for k, v in resources.items() if k != "devices"}
    spec.validate_resources(resources)
    return c.cgroups().update(resources, json_path="resources") or []


def stats_event(c):
    return {"type": "stats", "id": c.id, "data": c.cgroups().stats()}


def events(store, container_id, *, stats_only=False, interval=5.0, write=None):
    """--stats: one stats object. Otherwise a stats object every `interval`
    seconds and an oom object as soon as the kernel reports an OOM in the
    container's memory cgroup, until the container stops."""
    from ocirt import jsonfast

    c = Container.load(store, container_id)
    st.check_allowed("events", c.status(), container_id)
    if stats_only:
        write(jsonfast.dumps(stats_event(c)) + "\n")
        return
    watcher = c.cgroups().oom_watcher()
    try:
        _stream_events(c, watcher, interval, lambda event: write(jsonfast.dumps(event) + "\n"))
    finally:
        if watcher is not None:
            watcher.close()


def _stream_events(c, watcher, interval, emit):
    import select
    import time

    poller = select.poll()
    if watcher is not None:
        poller.register(watcher.fileno(), watcher.poll_events)

    def wait_reporting_ooms(timeout):
        if watcher is None:
            time.sleep(timeout)
            return
        if not poller.poll(timeout * 1000):
            return
        for _ in range(watcher.new_ooms()):
            emit({"type": "oom", "id": c.id})
        if not os.path.isdir(watcher.directory):  # deleted under us: nothing more will come
            poller.unregister(watcher.fileno())

    emit(stats_event(c))
    next_stats = time.monotonic() + interval
    while True:
        now = time.monotonic()
        if now < next_stats:
            wait_reporting_ooms(next_stats - now)
            continue
        if c.status() == st.STOPPED:
            wait_reporting_ooms(0)  # an OOM kill that stopped the container is reported before the end
            return
        emit(stats_event(c))
        next_stats += interval


def parse_interval(text):
    """Go-style durations runc takes: 5s, 500ms, 1m, or plain seconds."""
    for suffix, scale in (("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)):
        if text.endswith(suffix) and text[: -len(suffix)].replace(".", "", 1).isdigit():
            return float(text[: -len(suffix)]) * scale
    if text.replace(".", "", 1).isdigit():
        return float(text)
    raise OcirtError(f"invalid --interval {text!r}: use e.g. 5s or 500ms")
