"""JSON for ocirt's hot paths through CPython's `_json` accelerator.

`import json` costs ~12 ms per process (it pulls in `re` and `enum`), more
than a whole `state` command should take. ocirt's own records and output
need only what the C scanner and string encoder do. Anything parsing user
input with error positions (config.json) still uses `json`.
"""
import _json


class _ScannerContext:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo = {}

    @staticmethod
    def parse_constant(name):
        raise ValueError(f"JSON constant {name} is not allowed")


_scan = _json.make_scanner(_ScannerContext())
_WHITESPACE = " \t\n\r"


def loads(data):
    """Parse a JSON document; ValueError when it is not valid JSON."""
    text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scan(text, start)
    except (StopIteration, SystemError):
        # The scanner reports some errors through json.decoder.JSONDecodeError,
        # which it only finds if `json` is already imported; otherwise the error
        # surfaces as SystemError. Either way: not valid JSON.
        raise ValueError("invalid JSON") from None
    if text[end:].strip(_WHITESPACE):
        raise ValueError("invalid JSON: extra data")
    return value


_quote = _json.encode_basestring_ascii


def dumps(value, indent=None):
    """Serialise dicts, lists, strings, numbers, booleans and None."""
    parts = []
    _encode(value, parts, indent, 0)
    return "".join(parts)


def _encode(value, out, indent, level):
    if isinstance(value, str):
        out.append(_quote(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{value} is not valid JSON")
        out.append(float.__repr__(value))
    elif isinstance(value, dict):
        _container(((_quote(str(k)) + ": ", v) for k, v in value.items()), "{", "}", bool(value),
                    out, indent, level)
    elif isinstance(value, (list, tuple)):
        _container((("", v) for v in value), "[", "]", bool(value), out, indent, level)
    else:
        raise TypeError(f"cannot serialise {type(value).__name__} as JSON")


def _container(items, open_, close, nonempty, out, indent, level):
    out.append(open_)
    if not nonempty:
        out.append(close)
        return
    inner = "\n" + " " * (indent * (level + 1)) if indent else ""
    first = True
    for prefix, item in items:
        out.append(("," if not first else "") + (inner if indent else ("" if first else " ")))
        out.append(prefix)
        _encode(item, out, indent, level + 1)
        first = False
    out.append(("\n" + " " * (indent * level) if indent else "") + close)
