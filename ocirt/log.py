"""--log FILE / --log-format text|json: what callers read when a command fails.

containerd decodes each line of the log as JSON and takes the last error;
podman unmarshals the whole file as one JSON object. So a failing command
writes exactly one JSON line at level "error", and warnings go to the log
only with --debug or when nothing else is written.
"""
import os
import sys
import time

from ocirt.errors import shorten

_config = {"path": None, "format": "text", "debug": False}


def configure(path=None, fmt="text", debug=False):
    _config.update(path=path, format=fmt or "text", debug=debug)


def _timestamp():
    now = time.time()
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
    return f"{base}.{int(now % 1 * 1e9):09d}Z"


def _escape(text):
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_line(level, message):
    if _config["format"] == "json":
        from ocirt import jsonfast

        return jsonfast.dumps({"level": level, "msg": message, "time": _timestamp()})
    return f'time="{_timestamp()}" level={level} msg="{_escape(message)}"'


def _write(level, message):
    path = _config["path"]
    if not path:
        return False
    line = format_line(level, message) + "\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    except OSError:
        return False
    return True


# Control characters (a newline from a quoted config value or id) would split
# the one line callers read; they are shown escaped.
_ONE_LINE = {c: f"\\x{c:02x}" for c in range(32) if c != 9}
_ONE_LINE.update({10: "\\n", 13: "\\r"})


def error(message):
    """A command failed: one line in the log file, the plain message on stderr.

    A newline from a quoted config value or id must not split the line
    callers read, so it is shown escaped; a huge message is shortened.
    """
    message = shorten(message.translate(_ONE_LINE))
    _write("error", message)
    try:
        sys.stderr.write(f"ocirt: {message}\n")
        sys.stderr.flush()
    except OSError:
        pass


def warning(message):
    if _config["debug"]:
        _write("warning", message)
    try:
        sys.stderr.write(f"ocirt: warning: {message}\n")
    except OSError:
        pass


def debug(message):
    if _config["debug"]:
        _write("debug", message)
