"""The runc-compatible command line: flags and subcommands mapped onto operations.

A small hand-written parser (argparse costs milliseconds of imports on every
call and does not match runc's conventions): global options come before the
subcommand; a subcommand's options may come before or after its positional
arguments (`kill --all ID 9`, `kill ID 9 --all`), except that `exec` stops at
the first argument after the id, which starts the command to run. Both
`--opt value` and `--opt=value` work.
"""
import os
import sys

from ocirt import log
from ocirt.errors import EXIT_USAGE, OcirtError

VERSION = "0.1.0"
SPEC_VERSION = "1.3.0"
DEFAULT_ROOT = "/run/ocirt"

# option name -> (canonical key, takes a value, may repeat)
_GLOBAL = {
    "--root": ("root", True, False),
    "--log": ("log", True, False),
    "--log-format": ("log_format", True, False),
    "--debug": ("debug", False, False),
    "--systemd-cgroup": ("systemd_cgroup", False, False),
    "--rootless": ("rootless", True, False),
    "--criu": ("criu", True, False),
    "--version": ("version", False, False),
    "-v": ("version", False, False),
    "--help": ("help", False, False),
    "-h": ("help", False, False),
}

_CREATE = {
    "--bundle": ("bundle", True, False),
    "-b": ("bundle", True, False),
    "--pid-file": ("pid_file", True, False),
    "--console-socket": ("console_socket", True, False),
    "--no-pivot": ("no_pivot", False, False),
    "--no-new-keyring": ("no_new_keyring", False, False),
    "--preserve-fds": ("preserve_fds", True, False),
}

_COMMANDS = {
    # name: (options, positional names, usage)
    "create": (_CREATE, ("id",), "create [--bundle B] [--pid-file F] [--console-socket S] [--no-pivot] [--no-new-keyring] [--preserve-fds N] ID"),
    "run": (dict(_CREATE, **{"--detach": ("detach", False, False), "-d": ("detach", False, False),
                             "--keep": ("keep", False, False), "--no-subreaper": ("no_subreaper", False, False)}),
            ("id",), "run [--detach] [--bundle B] [--pid-file F] ID"),
    "start": ({}, ("id",), "start ID"),
    "state": ({}, ("id",), "state ID"),
    "kill": ({"--all": ("all", False, False), "-a": ("all", False, False)}, ("id", "signal?"),
             "kill [--all] ID [SIGNAL]"),
    "delete": ({"--force": ("force", False, False), "-f": ("force", False, False)}, ("id",),
               "delete [--force] ID"),
    "pause": ({}, ("id",), "pause ID"),
    "resume": ({}, ("id",), "resume ID"),
    "ps": ({"--format": ("format", True, False), "-f": ("format", True, False)}, ("id", "ps_args*"),
           "ps [--format table|json] ID [-- PS OPTIONS]"),
    "list": ({"--format": ("format", True, False), "-f": ("format", True, False),
              "--quiet": ("quiet", False, False), "-q": ("quiet", False, False)}, (),
             "list [--format table|json] [-q]"),
    "spec": ({"--bundle": ("bundle", True, False), "-b": ("bundle", True, False),
              "--rootless": ("rootless", False, False)}, (), "spec [--bundle B]"),
    "features": ({}, (), "features"),
    "update": ({"--resources": ("resources", True, False), "-r": ("resources", True, False),
                **{"--" + k.replace("_", "-"): (k, True, False) for k in (
                    "memory", "memory_swap", "memory_reservation", "kernel_memory", "kernel_memory_tcp",
                    "cpu_shares", "cpu_quota", "cpu_period", "cpu_rt_runtime", "cpu_rt_period",
                    "cpuset_cpus", "cpuset_mems", "pids_limit", "blkio_weight")},
                "--cpu-share": ("cpu_shares", True, False)},
               ("id",), "update [--resources FILE|-] [--memory M] [--cpu-quota N] ... ID"),
    "events": ({"--stats": ("stats", False, False), "--interval": ("interval", True, False)},
               ("id",), "events [--stats] [--interval 5s] ID"),
}


class UsageError(OcirtError):
    def __init__(self, message):
        super().__init__(message, exit_code=EXIT_USAGE)


def parse_options(argv, options, positional_names, stop_at_first_positional=False):
    """Split argv into ({key: value}, [positionals]) by an option table."""
    values = {}
    positionals = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            positionals.extend(argv[i:])
            break
        if arg.startswith("-") and len(arg) > 1 and not (stop_at_first_positional and positionals):
            name, eq, inline = arg.partition("=")
            spec = options.get(name)
            if spec is None:
                raise UsageError(f"unknown option {name}")
            key, takes_value, repeats = spec
            if takes_value:
                if eq:
                    value = inline
                elif i < len(argv):
                    value = argv[i]
                    i += 1
                else:
                    raise UsageError(f"option {name} needs a value")
            else:
                if eq and inline.lower() not in ("true", "false", "1", "0"):
                    raise UsageError(f"option {name} takes no value")
                value = not eq or inline.lower() in ("true", "1")
            if repeats:
                values.setdefault(key, []).append(value)
            else:
                values[key] = value
        else:
            positionals.append(arg)
    return values, positionals


def _positional(command, positionals, names):
    out = {}
    rest = list(positionals)
    for name in names:
        if name.endswith("*"):
            out[name[:-1]] = rest
            rest = []
        elif name.endswith("?"):
            out[name[:-1]] = rest.pop(0) if rest else None
        else:
            if not rest:
                raise UsageError(f'"{command}" requires a container id' if name == "id" else f'"{command}" requires {name}')
            out[name] = rest.pop(0)
    if rest:
        raise UsageError(f'"{command}": unexpected argument {rest[0]!r}')
    return out


def _int_option(values, key, name):
    raw = values.get(key, 0)
    try:
        number = int(raw)
    except (TypeError, ValueError):
        raise UsageError(f"{name} needs a number, got {raw!r}") from None
    if number < 0:
        raise UsageError(f"{name} must not be negative")
    if key == "preserve_fds":
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if number + 3 + 64 > soft:
            raise UsageError(f"{name} {number} leaves no room under the open-files limit ({soft})")
    return number


def _store(globals_):
    from ocirt.state import StateStore

    return StateStore(globals_.get("root") or DEFAULT_ROOT)


def _print_json(obj, indent=2):
    from ocirt import jsonfast

    sys.stdout.write(jsonfast.dumps(obj, indent=indent) + "\n")


def _print_warnings(warnings):
    for message in warnings or ():
        log.warning(message)


def _cmd_create(g, o, p):
    from ocirt import container

    container.create(_store(g), p["id"], o.get("bundle"), pid_file=o.get("pid_file"),
                     console_socket=o.get("console_socket"), no_pivot=o.get("no_pivot", False),
                     new_keyring=not o.get("no_new_keyring", False),
                     preserve_fds=_int_option(o, "preserve_fds", "--preserve-fds"),
                     systemd_cgroup=g.get("systemd_cgroup", False))
    return 0


def _cmd_run(g, o, p):
    from ocirt import container

    code, warnings = container.run(
        _store(g), p["id"], o.get("bundle"), detach=o.get("detach", False), pid_file=o.get("pid_file"),
        console_socket=o.get("console_socket"),
        no_pivot=o.get("no_pivot", False), preserve_fds=_int_option(o, "preserve_fds", "--preserve-fds"),
        systemd_cgroup=g.get("systemd_cgroup", False), keep=o.get("keep", False),
        new_keyring=not o.get("no_new_keyring", False))
    _print_warnings(warnings)
    return code


def _cmd_start(g, o, p):
    from ocirt import container

    _print_warnings(container.start(_store(g), p["id"]))
    return 0


def _cmd_state(g, o, p):
    from ocirt import container

    _print_json(container.state(_store(g), p["id"]))
    return 0


def _cmd_kill(g, o, p):
    from ocirt import container
    from ocirt.signals import parse_signal

    signum = parse_signal(p["signal"] or "SIGTERM")
    container.kill(_store(g), p["id"], signum, all_processes=o.get("all", False))
    return 0


def _cmd_delete(g, o, p):
    from ocirt import container

    _print_warnings(container.delete(_store(g), p["id"], force=o.get("force", False)))
    return 0


def _cmd_pause(g, o, p):
    from ocirt import container

    container.pause(_store(g), p["id"])
    return 0


def _cmd_resume(g, o, p):
    from ocirt import container

    container.resume(_store(g), p["id"])
    return 0


def _cmd_ps(g, o, p):
    from ocirt import container

    fmt = o.get("format", "table")
    if fmt not in ("table", "json"):
        raise UsageError(f"invalid --format {fmt!r}: use table or json")
    pids = container.ps(_store(g), p["id"])
    if fmt == "json":
        _print_json(pids, indent=None)
        return 0
    sys.stdout.write(_ps_table(p["ps_args"] or ["-ef"], set(pids)))
    return 0


def _ps_table(args, pids):
    """`ps ARGS` limited to the container's processes, by its PID column (as runc does)."""
    import subprocess

    try:
        out = subprocess.run(["ps", *args], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise OcirtError(f"running ps {' '.join(args)}: {getattr(e, 'stderr', None) or e}") from None
    lines = out.splitlines()
    if not lines:
        return ""
    header = lines[0].split()
    if "PID" not in header:
        raise OcirtError("ps output has no PID column: give ps options that print one")
    column = header.index("PID")
    rows = [line for line in lines[1:] if line.split()[column:column + 1] and
            line.split()[column].isdigit() and int(line.split()[column]) in pids]
    return "\n".join([lines[0], *rows]) + "\n"


def _cmd_list(g, o, p):
    from ocirt import container

    fmt = o.get("format", "table")
    if fmt not in ("table", "json"):
        raise UsageError(f"invalid --format {fmt!r}: use table or json")
    states = container.list_containers(_store(g))
    if o.get("quiet"):
        for s in states:
            sys.stdout.write(s["id"] + "\n")
    elif fmt == "json":
        _print_json(states, indent=None)
    else:
        rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        rows += [(s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], s["owner"] or "root")
                 for s in states]
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        for r in rows:
            sys.stdout.write("   ".join(c.ljust(w) for c, w in zip(r, widths)) + "   " + r[5] + "\n")
    return 0


def _cmd_spec(g, o, p):
    from ocirt import specgen

    specgen.write_default(o.get("bundle") or ".", rootless=o.get("rootless", False))
    return 0


def _cmd_features(g, o, p):
    from ocirt import features

    _print_json(features.features())
    return 0


def _cmd_update(g, o, p):
    from ocirt import resources

    if o.get("resources"):
        res = resources.read_resources(o["resources"])
        if not isinstance(res, dict):
            raise OcirtError("resources: must be a JSON object")
    else:
        res = resources.resources_from_flags(o)
    _print_warnings(resources.update(_store(g), p["id"], res))
    return 0


def _cmd_events(g, o, p):
    from ocirt import resources

    def write(line):
        sys.stdout.write(line)
        sys.stdout.flush()

    resources.events(_store(g), p["id"], stats_only=o.get("stats", False),
                     interval=resources.parse_interval(o.get("interval", "5s")), write=write)
    return 0


_HANDLERS = {
    "create": _cmd_create, "run": _cmd_run, "start": _cmd_start, "state": _cmd_state,
    "kill": _cmd_kill, "delete": _cmd_delete, "pause": _cmd_pause, "resume": _cmd_resume,
    "ps": _cmd_ps, "list": _cmd_list, "spec": _cmd_spec, "features": _cmd_features,
    "update": _cmd_update, "events": _cmd_events,
}


def usage():
    lines = ["usage: ocirt [--root DIR] [--log FILE] [--log-format text|json] [--debug] [--systemd-cgroup] COMMAND ...",
             "", "commands:"]
    lines += [f"  {_COMMANDS[name][2]}" for name in _COMMANDS]
    return "\n".join(lines) + "\n"


def _split_global(argv):
    """Global options run up to the first word that is not one of them."""
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        name = argv[i].partition("=")[0]
        spec = _GLOBAL.get(name)
        if spec is None:
            raise UsageError(f"unknown global option {name}")
        i += 1 if (not spec[1] or "=" in argv[i]) else 2
    g, _ = parse_options(argv[:i], _GLOBAL, ())
    return g, argv[i:]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    code = 1
    try:
        g, rest = _split_global(argv)
        log.configure(g.get("log"), g.get("log_format", "text"), g.get("debug", False))
        if g.get("log_format", "text") not in ("text", "json"):
            raise UsageError(f"invalid --log-format {g['log_format']!r}: use text or json")
        if g.get("version"):
            sys.stdout.write(f"ocirt version {VERSION}\nspec: {SPEC_VERSION}\n")
            code = 0
        elif g.get("help") or not rest or rest[0] == "help":
            sys.stdout.write(usage())
            code = 0 if (g.get("help") or rest) else EXIT_USAGE
        else:
            command, args = rest[0], rest[1:]
            if command in ("create", "run", "exec"):
                # These put ocirt's own processes inside a container: see selfexe.
                from ocirt.linux.selfexe import reexec_sealed

                reexec_sealed()
            if command == "exec":
                from ocirt import cli_exec

                code = cli_exec.main(g, args)
            elif command not in _COMMANDS:
                raise UsageError(f"unknown command {command!r} (see ocirt --help)")
            else:
                options, names, _ = _COMMANDS[command]
                if args and args[0] in ("--help", "-h"):
                    sys.stdout.write(f"usage: ocirt {_COMMANDS[command][2]}\n")
                    code = 0
                else:
                    o, positionals = parse_options(args, options, names)
                    code = _HANDLERS[command](g, o, _positional(command, positionals, names))
    except OcirtError as e:
        log.error(str(e))
        code = e.exit_code
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        code = 1
    try:
        sys.stdout.flush()
    except OSError:
        pass
    # Skip interpreter teardown: nothing is left to clean up, and it costs milliseconds.
    os._exit(code)
