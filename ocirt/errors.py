"""The one exception type users see, and the exit codes ocirt uses."""

# Exit codes callers look at: runc and crun exit 1 on most failures, and
# `exec` exits 255 when the process could not be started (podman and
# containerd both rely on a non-zero code only; 255 matches runc for exec).
EXIT_FAILURE = 1
EXIT_USAGE = 3  # runc's code for an unknown subcommand or a bad flag
EXIT_EXEC_FAILED = 255


def shorten(message, limit=4096):
    """`message`, or when longer than `limit` its start (the JSON path and what
    failed) and its end (usually the reason), saying how much of the middle
    is left out: an error quoting a 1 MiB value from a config stays readable."""
    if len(message) <= limit:
        return message
    head, tail = limit // 2, limit // 4
    return f"{message[:head]}[... {len(message) - head - tail} characters left out ...]{message[-tail:]}"


class OcirtError(Exception):
    """A failure with a message a user can act on.

    `path` is the JSON path (e.g. "process.args") when the problem is in a
    config or process file; `source` names that file ("config.json").
    """

    def __init__(self, message, *, path=None, source=None, exit_code=EXIT_FAILURE):
        super().__init__(message)
        self.message = message
        self.path = path
        self.source = source
        self.exit_code = exit_code

    def __str__(self):
        prefix = ""
        if self.source:
            prefix += self.source + ": "
        if self.path:
            prefix += self.path + ": "
        return prefix + self.message


class ContainerNotFound(OcirtError):
    """The id names no container under --root ("does not exist" is what callers match)."""

    def __init__(self, container_id):
        super().__init__(f"container {container_id!r} does not exist")
        self.container_id = container_id


class InvalidState(OcirtError):
    """An operation that the container's current status does not allow."""
