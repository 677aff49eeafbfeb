"""Write the fast `ocirt` command: `python3 -m ocirt.launcher [PATH]`.

Every ocirt command is a fresh interpreter, and a caller runs several per
container. pip's console script starts Python with `site`, which here runs
the start-up hooks of every installed package (tens of milliseconds). The
launcher written here starts the real interpreter (never a pyenv shim) with
-I -S and puts on sys.path exactly the directories ocirt and its
dependencies were installed in, found now, at install time. PATH defaults
to the console script pip installed beside this interpreter.
"""
import os
import sys

TEMPLATE = """#!{python} -IS
# The ocirt command, written by `python3 -m ocirt.launcher` (see ocirt/launcher.py):
# -I -S skips site start-up; these are the directories ocirt and its dependencies live in.
import sys
sys.path[:0] = {paths!r}
from ocirt.cli import main
main()
"""

# Packages ocirt imports at run time (jsonschema only to word the error for a rejected config).
_DEPENDENCIES = ("ocirt", "_cffi_backend", "jsonschema", "jsonschema_specifications",
                 "referencing", "rpds", "attr", "attrs")


def search_paths():
    import importlib.util

    paths = []
    for name in _DEPENDENCIES:
        found = importlib.util.find_spec(name)
        if found is None or not found.origin:
            continue
        origin = found.origin
        directory = os.path.dirname(origin)
        if found.submodule_search_locations:  # a package: its parent is the path entry
            directory = os.path.dirname(directory)
        if directory not in paths:
            paths.append(directory)
    return paths


def write(path):
    python = os.path.realpath(sys.executable)
    text = TEMPLATE.format(python=python, paths=search_paths())
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o755)
    os.rename(tmp, path)


def main():
    target = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(sys.executable), "ocirt")
    write(target)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
