"""`ocirt exec`: the runc-compatible options, turned into a runtime-spec process."""
import os

from ocirt.cli import UsageError, _int_option, _store, parse_options
from ocirt.errors import EXIT_EXEC_FAILED, OcirtError

OPTIONS = {
    "--process": ("process", True, False), "-p": ("process", True, False),
    "--tty": ("tty", False, False), "-t": ("tty", False, False),
    "--console-socket": ("console_socket", True, False),
    "--detach": ("detach", False, False), "-d": ("detach", False, False),
    "--pid-file": ("pid_file", True, False),
    "--cwd": ("cwd", True, False),
    "--env": ("env", True, True), "-e": ("env", True, True),
    "--user": ("user", True, False), "-u": ("user", True, False),
    "--additional-gids": ("additional_gids", True, True), "-g": ("additional_gids", True, True),
    "--cap": ("cap", True, True), "-c": ("cap", True, True),
    "--no-new-privs": ("no_new_privs", False, False),
    "--process-label": ("process_label", True, False),
    "--apparmor": ("apparmor", True, False),
    "--preserve-fds": ("preserve_fds", True, False),
    "--ignore-paused": ("ignore_paused", False, False),
}


def _number(text, what):
    if not text.isdigit():
        raise UsageError(f"invalid {what} {text!r}: expected a number")
    return int(text)


def build_process(options, args, bundle):
    """The process to run: --process FILE as given, or the container's own
    process from its bundle with the command-line overrides (as runc does)."""
    from ocirt import spec

    if options.get("process"):
        if args:
            raise UsageError("exec: give either --process or a command, not both")
        return spec.load_process(options["process"]), os.path.basename(options["process"])
    if not args:
        raise UsageError('"exec" requires a command to run (or --process FILE)')
    from ocirt import jsonfast

    try:
        with open(os.path.join(bundle, "config.json"), "rb") as f:
            proc = jsonfast.loads(f.read()).get("process") or {}
    except (OSError, ValueError):
        proc = {"cwd": "/", "user": {"uid": 0, "gid": 0}}
    proc = dict(proc, args=list(args))
    proc["terminal"] = bool(options.get("tty"))
    proc.pop("consoleSize", None)
    if options.get("cwd"):
        proc["cwd"] = options["cwd"]
    if options.get("env"):
        proc["env"] = list(proc.get("env") or []) + options["env"]
    if options.get("user"):
        uid, _, gid = options["user"].partition(":")
        proc["user"] = {"uid": _number(uid, "uid"), "gid": _number(gid, "gid") if gid else 0}
    if options.get("additional_gids"):
        user = dict(proc.get("user") or {"uid": 0, "gid": 0})
        user["additionalGids"] = [_number(g, "gid") for g in options["additional_gids"]]
        proc["user"] = user
    if options.get("cap"):
        caps = {k: list(v) for k, v in (proc.get("capabilities") or {}).items()}
        for name in options["cap"]:
            for kind in ("bounding", "effective", "permitted", "ambient", "inheritable"):
                if kind in ("bounding", "effective", "permitted") or caps.get(kind) is not None:
                    caps.setdefault(kind, [])
                    if name not in caps[kind]:
                        caps[kind].append(name)
        proc["capabilities"] = caps
    if options.get("no_new_privs"):
        proc["noNewPrivileges"] = True
    if options.get("apparmor"):
        proc["apparmorProfile"] = options["apparmor"]
    if options.get("process_label"):
        proc["selinuxLabel"] = options["process_label"]
    spec.validate_process(proc, source="exec")
    return proc, "exec"


def main(global_options, argv):
    from ocirt.container import Container
    from ocirt.execute import exec_process

    try:
        options, positionals = parse_options(argv, OPTIONS, (), stop_at_first_positional=True)
        if not positionals:
            raise UsageError('"exec" requires a container id')
        container_id, args = positionals[0], positionals[1:]
        store = _store(global_options)
        bundle = Container.load(store, container_id).record["bundle"]
        proc, source = build_process(options, args, bundle)
        if proc.get("apparmorProfile"):
            raise OcirtError("AppArmor is not enabled on this host", path="apparmorProfile", source=source)
        if proc.get("selinuxLabel"):
            raise OcirtError("SELinux is not enabled on this host", path="selinuxLabel", source=source)
        if options.get("tty"):
            proc["terminal"] = True
        return exec_process(store, container_id, proc, detach=options.get("detach", False),
                            pid_file=options.get("pid_file"), console_socket=options.get("console_socket"),
                            preserve_fds=_int_option(options, "preserve_fds", "--preserve-fds"),
                            ignore_paused=options.get("ignore_paused", False), source=source)
    except OcirtError as e:
        # runc and crun exit 255 when exec fails; callers only check non-zero.
        if e.exit_code == 1:
            e.exit_code = EXIT_EXEC_FAILED
        raise
