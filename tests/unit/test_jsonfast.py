"""ocirt.jsonfast must agree with the json module on what ocirt reads and writes."""
import json
import subprocess
import sys

import pytest

from ocirt import jsonfast

SAMPLES = [
    {}, [], "", 0, -1, 2**63, 1.5, True, False, None,
    {"a": [1, 2, {"b": None}], "c": "x\"y\\z\n\u00e9\u2603\U0001F600", "d": {}, "e": []},
    {"ociVersion": "1.3.0", "id": "c1", "pid": 123, "status": "running", "annotations": {"k": "v"}},
]


@pytest.mark.parametrize("value", SAMPLES)
@pytest.mark.parametrize("indent", [None, 2, 4])
def test_roundtrip_matches_json(value, indent):
    text = jsonfast.dumps(value, indent=indent)
    assert json.loads(text) == value
    assert jsonfast.loads(text) == value
    assert jsonfast.loads(text.encode()) == value
    if indent:
        assert text == json.dumps(value, indent=indent)


@pytest.mark.parametrize("bad", ["", "{", "[1,]", "{'a': 1}", "nul", "1 2", "NaN", "{\"a\": 1} x"])
def test_invalid(bad):
    with pytest.raises(ValueError):
        jsonfast.loads(bad)


def test_refuses_non_json_values():
    with pytest.raises(ValueError):
        jsonfast.dumps(float("nan"))
    with pytest.raises(TypeError):
        jsonfast.dumps(object())


def test_import_is_light():
    import os

    top = os.path.dirname(os.path.dirname(jsonfast.__file__))
    code = "import sys; import ocirt.jsonfast; print(sorted(m for m in ('json', 're', 'enum') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-I", "-S", "-c", f"import sys; sys.path.insert(0, {top!r}); {code}"],
                         capture_output=True, text=True, cwd="/")
    assert out.stdout.strip() == "[]", out.stderr


def test_invalid_input_without_json_imported():
    """In ocirt's processes `json` is usually not imported, which changes how the C
    scanner reports errors; every malformed document must still be a ValueError."""
    import os

    top = os.path.dirname(os.path.dirname(jsonfast.__file__))
    code = ("import sys; from ocirt import jsonfast\n"
            "for bad in ['{', '[1,]', '{\\\"a\\\": }', '\\\"abc', 'nul', '{\\\"a\\\" 1}']:\n"
            "    try:\n        jsonfast.loads(bad)\n    except ValueError:\n        pass\n"
            "assert 'json' not in sys.modules\nprint('ok')")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", f"import sys; sys.path.insert(0, {top!r})\n{code}"],
                         capture_output=True, text=True, cwd="/")
    assert out.stdout.strip() == "ok", out.stderr
