"""`ocirt exec`: not available yet."""
from ocirt.errors import EXIT_EXEC_FAILED, OcirtError


def main(global_options, argv):
    raise OcirtError("exec is not supported yet", exit_code=EXIT_EXEC_FAILED)
