"""Load and check a bundle's config.json and `exec --process` files.

Two passes: the JSON schema in schemas/ (structure and types), then the
checks a schema cannot express (names the kernel knows, duplicates, one
field depending on another). Every failure is an OcirtError whose str() is
one line: "<file>: <json path>: <reason>".

This module is imported on hot paths (`state`, `kill`, ...), so json and
jsonschema are imported only inside the functions that need them. The schema
pass asks ocirt.schemacheck first, which gives jsonschema's verdict without
importing it; jsonschema runs only to word the error for a rejected document.
"""

import os

from ocirt.errors import OcirtError

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _find_schema_dir():
    # setup.py installs the top-level schemas/ as the package ocirt.schemas;
    # in the source tree it sits beside the ocirt/ package.
    installed = os.path.join(_PACKAGE_DIR, "schemas")
    if os.path.isdir(installed):
        return installed
    return os.path.join(os.path.dirname(_PACKAGE_DIR), "schemas")


SCHEMA_DIR = _find_schema_dir()

# Schema targets, relative to SCHEMA_DIR.
CONFIG_SCHEMA = "config.json"
PROCESS_SCHEMA = "defs.json#/definitions/process"
STATE_SCHEMA = "state.json"
FEATURES_SCHEMA = "features.json"

HOOK_STAGES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")


def load_config(bundle_dir):
    """Read, validate and return `<bundle_dir>/config.json` as a dict.

    Beyond `validate_config`, checks what needs the bundle on disk: bind
    mount sources (relative ones are resolved against the bundle) must exist,
    so that a typo is reported before anything is built.
    """
    config = validate_config(_read_json(os.path.join(bundle_dir, "config.json")))
    _check_bind_sources(config.get("mounts") or (), bundle_dir, "config.json")
    return config


def load_process(path):
    """Read, validate and return the process file of `exec --process PATH`."""
    return validate_process(_read_json(path), os.path.basename(path))


def validate_config(obj, source="config.json"):
    """Check a parsed config.json; return it unchanged or raise OcirtError."""
    _check_schema(obj, CONFIG_SCHEMA, source)
    _check_strings(obj, [], source)
    if "process" not in obj:
        raise OcirtError("'process' is a required property to create a container", source=source)
    if "root" not in obj:
        raise OcirtError("'root' is a required property on Linux", source=source)
    _check_version(obj["ociVersion"], source)
    _check_process(obj["process"], "process", source)
    _check_hooks(obj.get("hooks", {}), source)
    _check_names(obj, source)
    _check_linux(obj.get("linux", {}), source)
    from ocirt.linux.idmap import check_mounts

    check_mounts(obj, source)
    return obj


def validate_process(obj, source="process.json"):
    """Check a parsed process object (as in config.json's `process`)."""
    _check_schema(obj, PROCESS_SCHEMA, source)
    _check_strings(obj, [], source)
    _check_process(obj, "", source)
    return obj


def json_path(parts):
    """["linux", "namespaces", 2, "type"] -> "linux.namespaces[2].type".

    Keys that would read ambiguously in dotted form (sysctl and annotation
    names contain dots) are written as ["key"].
    """
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part and not any(c in part for c in '.[]" '):
            out += f".{part}" if out else part
        else:
            out += '["' + part + '"]'
    return out


# -- reading ---------------------------------------------------------------

MAX_JSON_BYTES = 16 << 20  # far above any real config (podman --privileged: ~60 KiB)


def _read_json(path):
    import stat

    source = os.path.basename(path)
    try:
        # O_NONBLOCK: a FIFO planted as config.json must not hang us in open().
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise OcirtError(f"cannot read {path}: {e.strerror}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise OcirtError(f"cannot read {path}: Is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise OcirtError(f"{path} is not a regular file")
        if info.st_size > MAX_JSON_BYTES:
            raise OcirtError(f"{path} is too large ({info.st_size} bytes; at most {MAX_JSON_BYTES})")
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        data = b"".join(chunks)
    except OSError as e:
        raise OcirtError(f"cannot read {path}: {e.strerror}") from None
    finally:
        os.close(fd)
    # The C scanner alone is enough for a well-formed file; `json` (and its
    # re/enum imports) is needed only to word an error or for what the scanner
    # leaves to it (a byte-order mark, UTF-16, NaN): it decides those as before.
    from ocirt import jsonfast

    try:
        return jsonfast.loads(data)
    except (ValueError, RecursionError):
        pass
    import json

    try:
        return json.loads(data)
    except json.JSONDecodeError as e:
        raise OcirtError(f"invalid JSON at line {e.lineno} column {e.colno}: {e.msg}",
                         source=source) from None
    except UnicodeDecodeError:
        raise OcirtError("invalid JSON: the file is not UTF-8 text", source=source) from None
    except RecursionError:
        raise OcirtError("invalid JSON: nested too deeply", source=source) from None
    except ValueError as e:  # e.g. an integer longer than Python converts (4300 digits)
        raise OcirtError(f"invalid JSON: {e}", source=source) from None


# -- schema pass -----------------------------------------------------------

_validators = {}  # schema target -> validator, built on first use
_registry = None


def schema_validator(target):
    """A jsonschema validator for `target` (e.g. CONFIG_SCHEMA), built once per process."""
    global _registry
    validator = _validators.get(target)
    if validator is None:
        if _registry is None:
            _registry = _load_registry()
        validator = _validator_class()({"$ref": target}, registry=_registry)
        _validators[target] = validator
    return validator


def _validator_class():
    import jsonschema

    # Draft 7 counts 1.0 as an integer; runc (Go) rejects it and the kernel
    # wants real ints, so only JSON numbers without a fraction part qualify.
    checker = jsonschema.Draft7Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool))
    return jsonschema.validators.extend(jsonschema.Draft7Validator, type_checker=checker)


def _load_registry():
    """Every file in SCHEMA_DIR, registered under its file name.

    The relative $refs between them ("defs.json#/definitions/uint32") then
    resolve locally, and nothing is ever fetched.
    """
    import json
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT7

    resources = []
    try:
        for name in sorted(os.listdir(SCHEMA_DIR)):
            if name.endswith(".json"):
                with open(os.path.join(SCHEMA_DIR, name), "rb") as f:
                    contents = json.load(f)
                resources.append((name, Resource.from_contents(contents, default_specification=DRAFT7)))
    except (OSError, ValueError) as e:
        raise OcirtError(f"ocirt is not installed correctly: cannot load the schemas in {SCHEMA_DIR}: {e}") from None
    return Registry().with_resources(resources)


_fast_schemas = None  # ocirt.schemacheck.Schemas, built on first use


def _fast_verdict(obj, target):
    """ocirt.schemacheck's verdict (same as jsonschema's, without importing
    it); None when it cannot decide, and jsonschema must."""
    global _fast_schemas
    from ocirt import schemacheck

    if _fast_schemas is None:
        _fast_schemas = schemacheck.Schemas(SCHEMA_DIR)
    try:
        return _fast_schemas.is_valid(obj, target)
    except (schemacheck.SchemaError, RecursionError):
        return None


def _check_schema(obj, target, source):
    # Most documents are valid: say so without jsonschema (~100 ms per
    # process). Only a rejected one pays for jsonschema, whose best_match
    # words the error.
    if _fast_verdict(obj, target):
        return
    from jsonschema.exceptions import best_match

    error = best_match(schema_validator(target).iter_errors(obj))
    if error is not None:
        raise OcirtError(_describe(error), path=json_path(error.absolute_path) or None,
                         source=source)


def _describe(error):
    """jsonschema's message, kept short and on one line."""
    import reprlib

    alternatives = error.validator_value if error.validator == "anyOf" else ()
    if alternatives and all(list(alt) == ["required"] for alt in alternatives):
        # "X is not valid under any of the given schemas" says nothing useful
        names = ", ".join(repr(name) for alt in alternatives for name in alt["required"])
        return f"at least one of {names} is required"
    # messages quote the offending value with repr(); a whole mounts array
    # or a 1 MB string would drown the reason
    message = error.message.replace(repr(error.instance), reprlib.repr(error.instance))
    return message.replace("\n", " ")


# -- semantic pass ---------------------------------------------------------

def _check_version(version, source):
    major, _, rest = version.partition(".")
    if major != "1" or not rest:
        raise OcirtError(f"{version!r} is not supported: ocirt implements runtime-spec 1.x",
                         path="ociVersion", source=source)


def _check_strings(value, parts, source):
    """Strings reach the kernel as C strings: a NUL byte would silently cut
    them short, and a lone surrogate (JSON "\\ud800") cannot be encoded at
    all. Annotations are only stored and handed back, so they may hold anything."""
    if isinstance(value, str):
        if "\0" in value:
            raise OcirtError("a NUL character (\\u0000) is not allowed here", path=json_path(parts) or None,
                             source=source)
        try:
            value.encode()
        except UnicodeEncodeError:
            raise OcirtError("a lone UTF-16 surrogate is not allowed here: the string is not valid Unicode",
                             path=json_path(parts) or None, source=source) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            if not parts and key == "annotations":
                continue
            _check_strings(key, parts, source)
            _check_strings(item, [*parts, key], source)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_strings(item, [*parts, i], source)


# HOST_NAME_MAX and the domain name's limit (struct utsname fields are 65 bytes with the NUL).
_UTS_NAME_MAX = 64


def _check_names(config, source):
    for key in ("hostname", "domainname"):
        value = config.get(key)
        if value is not None and len(value.encode()) > _UTS_NAME_MAX:
            raise OcirtError(f"{len(value.encode())} bytes is too long: the kernel takes at most {_UTS_NAME_MAX}",
                             path=key, source=source)


def _is_bind(mount):
    return mount.get("type") == "bind" or any(o in ("bind", "rbind") for o in mount.get("options") or ())


def _check_bind_sources(mounts, bundle_dir, source):
    for i, mount in enumerate(mounts):
        if not _is_bind(mount) or not mount.get("source"):
            continue
        path = os.path.join(os.path.abspath(bundle_dir), mount["source"])
        if not os.path.lexists(path):
            raise OcirtError(f"bind mount source {path} does not exist", path=f"mounts[{i}].source",
                             source=source)


def _absolute(value, path, source):
    if not value.startswith("/"):
        raise OcirtError(f"{value!r} is not an absolute path", path=path, source=source)


def _check_process(proc, prefix, source):
    def at(*parts):
        return json_path([prefix, *parts] if prefix else parts)

    _absolute(proc["cwd"], at("cwd"), source)

    # The name tables live with the code that applies them.
    from ocirt.capabilities import CAPABILITIES, CAPABILITY_SETS
    from ocirt.linux.rlimits import RLIMITS

    caps = proc.get("capabilities", {})
    for set_name in CAPABILITY_SETS:
        for i, name in enumerate(caps.get(set_name, ())):
            if name not in CAPABILITIES:
                raise OcirtError(f"unknown capability {name!r}",
                                 path=at("capabilities", set_name, i), source=source)

    seen = {}
    for i, rlimit in enumerate(proc.get("rlimits", ())):
        kind = rlimit["type"]
        if kind not in RLIMITS:
            raise OcirtError(f"unknown rlimit {kind!r} (known: {', '.join(sorted(RLIMITS))})",
                             path=at("rlimits", i, "type"), source=source)
        if kind in seen:
            raise OcirtError(f"duplicate rlimit {kind!r} (also at {at('rlimits', seen[kind])})",
                             path=at("rlimits", i, "type"), source=source)
        seen[kind] = i
        if rlimit["soft"] > rlimit["hard"]:
            raise OcirtError(f"soft limit {rlimit['soft']} is greater than hard limit {rlimit['hard']}",
                             path=at("rlimits", i), source=source)


def _check_hooks(hooks, source):
    for stage in HOOK_STAGES:
        for i, hook in enumerate(hooks.get(stage, ())):
            _absolute(hook["path"], json_path(["hooks", stage, i, "path"]), source)


# Memory values where -1 means "unlimited" and other negatives mean nothing.
_MEMORY_KEYS = ("limit", "reservation", "swap", "kernel", "kernelTCP")


def _check_linux(linux, source):
    memory = (linux.get("resources") or {}).get("memory") or {}
    for key in _MEMORY_KEYS:
        value = memory.get(key)
        if isinstance(value, int) and value < -1:
            raise OcirtError(f"{value} is negative: use -1 for unlimited or a number of bytes",
                             path=f"linux.resources.memory.{key}", source=source)

    seen = {}
    for i, ns in enumerate(linux.get("namespaces", ())):
        kind = ns["type"]
        if kind in seen:
            raise OcirtError(f"duplicate namespace {kind!r} (also at linux.namespaces[{seen[kind]}])",
                             path=f"linux.namespaces[{i}].type", source=source)
        seen[kind] = i
        if "path" in ns:
            _absolute(ns["path"], f"linux.namespaces[{i}].path", source)

    # Mappings only mean something for a user namespace the container
    # creates or joins; runc refuses them otherwise, and so do we.
    if "user" not in seen:
        for key in ("uidMappings", "gidMappings"):
            if linux.get(key):
                raise OcirtError('set without a user namespace: add {"type": "user"} to linux.namespaces',
                                 path="linux." + key, source=source)


RESOURCES_SCHEMA = "defs-linux.json#/definitions/resources"


def validate_resources(obj, source="resources"):
    """For `update --resources`: a linux.resources object, with path-precise errors."""
    _check_schema(obj, RESOURCES_SCHEMA, source)
    return obj
