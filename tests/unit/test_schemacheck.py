"""ocirt.schemacheck against jsonschema: the same verdict on every document.

spec._check_schema trusts schemacheck's "valid" and runs jsonschema only on
what schemacheck rejects, so a document schemacheck wrongly accepted would
skip the schema pass. The oracle here is spec.schema_validator (jsonschema's
Draft7Validator with ocirt's integer type), asked about: every caller fixture
and reference config, the mutations of test_schema.py and test_spec.py,
documents generated from the schemas (hypothesis-jsonschema), random
mutations of valid documents, and random schemas over every draft-07
keyword. OCIRT_SCHEMA_EXAMPLES=N multiplies the generated cases by N.
"""
import copy
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import test_schema
import test_spec
from ocirt import schemacheck, spec
from ocirt.errors import OcirtError

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "schemas"
OFFICIAL = test_schema.OFFICIAL
FIXTURES = test_schema.FIXTURES

TARGETS = {
    "config": spec.CONFIG_SCHEMA,
    "process": spec.PROCESS_SCHEMA,
    "resources": spec.RESOURCES_SCHEMA,
    "state": spec.STATE_SCHEMA,
    "features": spec.FEATURES_SCHEMA,
}

SCALE = int(os.environ.get("OCIRT_SCHEMA_EXAMPLES", "1"))


@pytest.fixture(scope="module")
def fast():
    return schemacheck.Schemas(spec.SCHEMA_DIR)


def verdicts(fast, kind, instance):
    return fast.is_valid(instance, TARGETS[kind]), spec.schema_validator(TARGETS[kind]).is_valid(instance)


def assert_same(fast, kind, instance):
    ours, oracle = verdicts(fast, kind, instance)
    assert ours == oracle, f"schemacheck says {ours}, jsonschema says {oracle} ({kind}): {instance!r}"[:2000]
    return ours


# -- the schema files

def schema_positions(node, path=()):
    """(path, schema object) for every schema in a schema file (draft 7 positions)."""
    if not isinstance(node, dict):
        return
    yield path, node
    for key, value in node.items():
        if key in ("properties", "patternProperties", "definitions"):
            for name, sub in value.items():
                yield from schema_positions(sub, (*path, key, name))
        elif key == "dependencies":
            for name, sub in value.items():
                if isinstance(sub, dict):
                    yield from schema_positions(sub, (*path, key, name))
        elif key in ("allOf", "anyOf", "oneOf", "items") and isinstance(value, list):
            for i, sub in enumerate(value):
                yield from schema_positions(sub, (*path, key, i))
        elif key in ("additionalProperties", "additionalItems", "items", "contains", "propertyNames",
                     "not", "if", "then", "else"):
            yield from schema_positions(value, (*path, key))


def schema_files():
    return {path.name: json.loads(path.read_text()) for path in sorted(SCHEMAS.glob("*.json"))}


ANNOTATIONS = {"title", "$comment", "definitions", "then", "else", "$ref"}


def test_every_keyword_in_the_schemas_is_interpreted():
    used = {key for doc in schema_files().values() for _, node in schema_positions(doc) for key in node}
    interpreted = set(schemacheck._KEYWORDS) | set(schemacheck._MEMBER_KEYWORDS)
    assert used - ANNOTATIONS <= interpreted, f"not interpreted: {used - ANNOTATIONS - interpreted}"
    # what the scan found: a keyword new to schemas/ shows up here first
    assert used == {
        "$comment", "$ref", "additionalProperties", "allOf", "anyOf", "const", "definitions", "dependencies",
        "else", "enum", "if", "items", "maximum", "minItems", "minLength", "minimum", "oneOf", "pattern",
        "properties", "propertyNames", "required", "then", "title", "type",
    }


def test_every_schema_and_reference_compiles(fast):
    targets = set(TARGETS.values())
    for name, doc in schema_files().items():
        targets.add(name)
        targets.update(f"{name}#/definitions/{d}" for d in doc.get("definitions", {}))
        targets.update(ref if not ref.startswith("#") else name + ref for ref in test_schema.all_refs(doc))
    for target in sorted(targets):
        fast.checker(target)  # raises SchemaError for anything not interpreted
        fast.is_valid({}, target)


# -- real documents

def fixture_documents():
    """(path, kind, parsed document) of every JSON file among the fixtures and the spec's tests."""
    found = [(path, "process" if "process" in path.name else "resources" if "resources" in path.name else "config")
             for path in sorted(FIXTURES.glob("*.json"))]
    found += [(path, "config") for path in sorted(OFFICIAL.glob("test/config/*/*.json"))]
    found += [(path, kind) for kind in ("state", "features") for path in sorted(OFFICIAL.glob(f"test/{kind}/*/*.json"))]
    documents = []
    for path, kind in found:
        try:
            documents.append((path, kind, json.loads(path.read_text())))
        except json.JSONDecodeError:
            pass  # invalid-json.json: never reaches a schema
    return documents


FIXTURE_DOCUMENTS = fixture_documents()


@pytest.mark.parametrize("kind, instance", [(kind, instance) for _, kind, instance in FIXTURE_DOCUMENTS] or [
    pytest.param(None, None, marks=pytest.mark.skip(f"no fixtures in {FIXTURES} or {OFFICIAL}"))],
    ids=[f"{path.parent.name}/{path.name}" for path, _, _ in FIXTURE_DOCUMENTS] or ["none"])
def test_fixture(fast, kind, instance):
    assert_same(fast, kind, instance)


def invocation_documents():
    """config.json, process and resources documents of every recorded runtime call."""
    path = FIXTURES / "invocations.jsonl.gz"
    if not path.is_file():
        return []
    found = []
    with gzip.open(path, "rt") as f:
        for line in f:
            record = json.loads(line)
            for key, kind in (("config_json", "config"), ("process_json", "process"),
                              ("resources_file", "resources"), ("resources_stdin", "resources")):
                if isinstance(record.get(key), dict):
                    found.append((kind, record[key]))
    return found


def test_recorded_invocations(fast):
    documents = invocation_documents()
    if not documents:
        pytest.skip(f"no invocations.jsonl.gz in {FIXTURES}")
    assert len(documents) > 50
    for kind, instance in documents:
        assert assert_same(fast, kind, instance), kind


# -- the hand-made cases of test_schema.py and test_spec.py

SCHEMA_CASES = ([(w, v) for w, v in test_schema.BAD_MUTATIONS] + [(w, v) for w, v in test_schema.GOOD_MUTATIONS]
                + [(k[0], k[1]) for k in test_schema.KNOWN_MUTATIONS])


@pytest.mark.parametrize("where, value", SCHEMA_CASES, ids=[f"{w}={v!r}"[:80] for w, v in SCHEMA_CASES])
def test_schema_mutation(fast, where, value):
    assert_same(fast, "config", test_schema.mutate(test_schema.RICH, where, value))


SPEC_CASES = [(w, v) for w, v, _ in test_spec.REJECTED] + list(test_spec.ACCEPTED)


@pytest.mark.parametrize("where, value", SPEC_CASES, ids=[f"{w}={v!r}"[:80] for w, v in SPEC_CASES])
def test_spec_mutation(fast, where, value):
    config = test_spec.mutate(test_spec.GOOD, where, value)
    assert_same(fast, "config", config)
    if isinstance(config.get("process"), dict):
        assert_same(fast, "process", config["process"])


def test_the_state_and_features_examples(fast):
    assert assert_same(fast, "state", test_schema.STATE)
    assert assert_same(fast, "features", test_schema.FEATURES)
    assert assert_same(fast, "config", test_schema.RICH)
    assert assert_same(fast, "resources", test_schema.RICH["linux"]["resources"])


@pytest.mark.parametrize("kind", sorted(TARGETS))
@pytest.mark.parametrize("instance", [None, [], "{}", 0, True, {}])
def test_not_an_object_or_empty(fast, kind, instance):
    assert_same(fast, kind, instance)


# -- semantics that are easy to get wrong

@pytest.mark.parametrize("value, valid", [
    (1, True), (1.0, False), (True, False), (False, False), (2**32 - 1, True), (2**32, False), (-1, False),
    (float("nan"), False), ("1", False), (None, False),
])
def test_uid_is_an_integer_as_ocirt_defines_it(fast, value, valid):
    instance = {"cwd": "/", "args": ["sh"], "user": {"uid": value, "gid": 0}}
    assert verdicts(fast, "process", instance) == (valid, valid)


@pytest.mark.parametrize("value", ["2MB", "2MB\n", "2MB\n\n", "02MB", "2MBx", "\n2MB", "20GB"])
def test_pattern_anchors_as_python_re_reads_them(fast, value):
    # `$` also matches before one final newline, in jsonschema too
    assert_same(fast, "resources", {"hugepageLimits": [{"pageSize": value, "limit": 1}]})


def test_ref_siblings_are_ignored():
    schema = {"definitions": {"n": {"type": "integer"}}, "$ref": "#/definitions/n", "minimum": 5}
    fast = schemacheck.Schemas(None, {"t.json": schema})
    assert fast.is_valid(3, "t.json") and not fast.is_valid("3", "t.json")
    assert spec._validator_class()(schema).is_valid(3)


@pytest.mark.parametrize("schema", [
    {"$id": "http://example.com/x"},
    {"$schema": "http://json-schema.org/draft-04/schema#"},
    {"$ref": "http://example.com/other.json"},
    {"$ref": "../defs.json#/definitions/uint32"},
    {"$ref": "#anchor"},
    {"$ref": "missing.json"},
    {"properties": {"a": {"$ref": "#/definitions/missing"}}},
    {"type": "decimal"},
    {"pattern": "("},
])
def test_what_is_not_interpreted_raises(tmp_path, schema):
    fast = schemacheck.Schemas(str(tmp_path), {"t.json": schema})
    with pytest.raises(schemacheck.SchemaError):
        for instance in ({"a": "x"}, "x"):
            fast.is_valid(instance, "t.json")


def test_spec_falls_back_to_jsonschema(monkeypatch, tmp_path):
    # schemas schemacheck cannot read: it cannot decide, and jsonschema does
    monkeypatch.setattr(spec, "_fast_schemas", schemacheck.Schemas(str(tmp_path / "none")))
    assert spec._fast_verdict(test_spec.GOOD, spec.CONFIG_SCHEMA) is None
    spec.validate_config(copy.deepcopy(test_spec.GOOD))
    with pytest.raises(OcirtError) as info:
        spec.validate_config(test_spec.mutate(test_spec.GOOD, ("process", "args"), []))
    assert (info.value.path, info.value.message) == ("process.args", "[] should be non-empty")


def test_jsonschema_has_the_last_word(monkeypatch):
    class Rejects:
        def is_valid(self, instance, target):
            return False

    # a "no" from schemacheck that jsonschema does not confirm lets the document through
    monkeypatch.setattr(spec, "_fast_schemas", Rejects())
    spec.validate_config(copy.deepcopy(test_spec.GOOD))


# -- imports

HEAVY = ["jsonschema", "referencing", "json", "re", "enum", "collections"]


def heavy_modules_after(code):
    """Which of HEAVY a fresh `python3 -I -S` has imported after running `code`."""
    code = f"import sys\nsys.path.insert(0, {str(REPO)!r})\n{code}\nprint(*(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def test_import_is_light():
    assert heavy_modules_after("import ocirt.schemacheck") == set()


def test_fast_validation_does_not_import_jsonschema():
    path = FIXTURES / "containerd-config.json"
    if not path.is_file():
        pytest.skip(f"no {path}")
    loaded = heavy_modules_after(
        "from ocirt import jsonfast, schemacheck, spec\n"
        f"config = jsonfast.loads(open({str(path)!r}, 'rb').read())\n"
        "assert schemacheck.Schemas(spec.SCHEMA_DIR).is_valid(config, spec.CONFIG_SCHEMA)\n"
        "spec.validate_config(config)")
    # `re` (with enum) for the patterns (linux.resources.devices[].access); never jsonschema or json
    assert loaded <= {"re", "enum", "collections"}


def test_no_pattern_no_re():
    assert heavy_modules_after(
        "from ocirt import schemacheck, spec\n"
        "assert schemacheck.Schemas(spec.SCHEMA_DIR).is_valid({'cwd': '/', 'args': ['sh']}, spec.PROCESS_SCHEMA)"
    ) == set()


# -- generated documents (hypothesis)

def hypothesis():
    """(hypothesis, strategies, settings for n examples) or a skip."""
    hyp = pytest.importorskip("hypothesis")
    from hypothesis import HealthCheck, strategies

    def settings(n):
        return hyp.settings(max_examples=n * SCALE, deadline=None, database=None, derandomize=SCALE == 1,
                            suppress_health_check=list(HealthCheck))

    return hyp, strategies, settings


def inline(target):
    """The schema of `target` with every $ref replaced by what it names (the
    files hold no cycles), for hypothesis-jsonschema, which resolves no files."""
    docs = schema_files()

    def resolve(ref, base):
        name, _, pointer = ref.partition("#")
        name = name or base
        node = docs[name]
        for token in pointer.split("/")[1:]:
            node = node[token]
        return node, name

    def walk(node, base):
        if isinstance(node, dict):
            if "$ref" in node:
                return walk(*resolve(node["$ref"], base))
            out = {}
            for key, value in node.items():
                if key in ("properties", "patternProperties"):
                    out[key] = {name: walk(sub, base) for name, sub in value.items()}
                elif key in ("definitions", "$comment", "title"):
                    continue
                elif key in ("enum", "const", "required"):
                    out[key] = value
                else:
                    out[key] = walk(value, base)
            return out
        if isinstance(node, list):
            return [walk(item, base) for item in node]
        return node

    return walk(*resolve(target, ""))


# property names and enum values of the schemas: mutations that add a member use them
def schema_words():
    words = set()
    for doc in schema_files().values():
        for _, node in schema_positions(doc):
            words.update(node.get("properties", {}))
            words.update(v for v in node.get("enum", ()) if isinstance(v, str))
    return sorted(words)


BOUNDARY_INTS = sorted({sign * (2**bits + delta) for bits in (0, 3, 7, 8, 9, 15, 16, 31, 32, 63, 64)
                        for delta in (-1, 0, 1) for sign in (1, -1)} | {100, 101, 1000, 1001, 8576, 10**30})
ODD_STRINGS = ["", " ", "\n", "a\n", "\t", "2MB", "2MB\n", "02MB", "64kB", "1GB", "MB:0=20", "MB:0=20\n", "MB:\nx",
               "L3:0=f\n", "rwm", "rwm\n", "rwx", "0-3,7", "0-3 7\t", "0-3\n", "CAP_KILL", "CAP_kill", "CAP_", "/",
               "/a", "relative", "1.0.0", "p", "c", "x", "é", "日本語", "\u2028", "\U0001f600", "\x00", "\ud800",
               "\u0660", "\u00a0", "a" * 300]


def values(st):
    scalars = st.one_of(
        st.sampled_from(BOUNDARY_INTS), st.integers(),
        st.sampled_from([1.0, -1.0, 0.0, -0.0, 0.5, 1e300, 2.0**63, 2.0**64, float("inf"), float("nan")]),
        st.floats(), st.booleans(), st.none(),
        st.sampled_from(ODD_STRINGS + schema_words()), st.text(max_size=6))
    keys = st.sampled_from(schema_words()) | st.text(max_size=4)
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
                        max_leaves=5)


def places(doc):
    """(container, key) for every value inside doc."""
    stack = [doc]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            yield node, key
            stack.append(value)


def tweaks(value):
    """Near misses of a value: the same kind, one step off."""
    if isinstance(value, bool):
        return [not value, int(value), str(value).lower(), None]
    if isinstance(value, int):
        return [value + 1, value - 1, -value, -value - 1, float(value), str(value), value * 2**32, bool(value)]
    if isinstance(value, float):
        return [int(value) if value == value and abs(value) != float("inf") else 0, value + 0.5, -value]
    if isinstance(value, str):
        return [value + "\n", "\n" + value, "", value[:-1], value.upper(), value.lower(), value + "é", value * 2,
                value + "\x00", [value]]
    if isinstance(value, list):
        return [[], value + value, value[:1], value[1:], list(reversed(value)), {}] + ([value[0]] if value else [])
    if isinstance(value, dict):
        return [{}, [], list(value.values())[:1]] + [{k: v for k, v in value.items() if k != drop} for drop in value]
    return [0, "", False, {}, []]


def mutated_documents(st, bases):
    any_value = values(st)

    @st.composite
    def build(draw):
        kind, doc = draw(st.sampled_from(bases))
        doc = copy.deepcopy(doc)
        for _ in range(draw(st.integers(1, 3))):
            where = list(places(doc))
            if not where:
                return kind, draw(any_value)
            parent, key = draw(st.sampled_from(where))
            op = draw(st.sampled_from(["replace", "tweak", "tweak", "delete", "add", "copy"]))
            if op == "replace":
                parent[key] = draw(any_value)
            elif op == "tweak":
                parent[key] = copy.deepcopy(draw(st.sampled_from(tweaks(parent[key]))))
            elif op == "delete":
                del parent[key]
            elif op == "add" and isinstance(parent[key], dict):
                parent[key][draw(st.sampled_from(schema_words()))] = draw(any_value)
            elif op == "add" and isinstance(parent[key], list):
                parent[key].append(draw(any_value))
            else:
                other_parent, other_key = draw(st.sampled_from(where))
                parent[key] = copy.deepcopy(other_parent[other_key])
        return kind, doc

    return build()


def base_documents():
    bases = [("config", test_schema.RICH), ("config", test_spec.GOOD), ("process", test_schema.RICH["process"]),
             ("resources", test_schema.RICH["linux"]["resources"]), ("state", test_schema.STATE),
             ("features", test_schema.FEATURES)]
    bases += [(kind, instance) for path, kind, instance in FIXTURE_DOCUMENTS if path.parent.name != "bad"]
    return bases


COUNTS = {}


@pytest.mark.parametrize("kind, n", [("config", 150), ("process", 250), ("resources", 150)])
def test_generated_from_the_schema(fast, kind, n):
    hyp, st, settings = hypothesis()
    from_schema = pytest.importorskip("hypothesis_jsonschema").from_schema
    seen = []

    @settings(n)
    @hyp.given(from_schema(inline(TARGETS[kind])))
    def check(instance):
        seen.append(assert_same(fast, kind, instance))

    check()
    COUNTS[f"generated {kind}"] = len(seen)
    assert len(seen) >= n * SCALE * 0.9


def test_mutations_of_valid_documents(fast):
    hyp, st, settings = hypothesis()
    bases = base_documents()
    seen = []

    @settings(1000)
    @hyp.given(mutated_documents(st, bases))
    def check(case):
        kind, instance = case
        seen.append(assert_same(fast, kind, instance))

    check()
    COUNTS["mutations"] = len(seen)
    assert len(seen) >= 1000 * SCALE * 0.9
    # both verdicts were exercised, many times
    assert seen.count(True) > 100 and seen.count(False) > 100


# -- random schemas over every draft-07 keyword

NAMES = ["a", "b", "c", "1"]
PATTERNS = ["^a", "b$", "^[0-9]+$", "", "a|c", "^.$", "^[^\\n]*$", "é"]
TYPE_NAMES = ["array", "boolean", "integer", "null", "number", "object", "string"]


def keyword_schemas(st):
    small = st.one_of(st.integers(-3, 3), st.sampled_from([0.5, 1.0, -1.5, 2**63, 1e20, 2.5]))
    leaf_values = st.one_of(small, st.booleans(), st.none(), st.sampled_from(["a", "", "ab", "a\n", "1", "é"]),
                            st.sampled_from([float("nan"), float("inf"), -0.0, 10**400, 2**64 + 0.5]))
    instances = st.recursive(leaf_values, lambda inner: st.lists(inner, max_size=3)
                             | st.dictionaries(st.sampled_from(NAMES), inner, max_size=3), max_leaves=4)

    def keyword_values(sub):
        names = st.lists(st.sampled_from(NAMES), max_size=3, unique=True)
        count = st.integers(0, 3)
        return {
            "type": st.sampled_from(TYPE_NAMES) | st.lists(st.sampled_from(TYPE_NAMES), max_size=3, unique=True),
            "properties": st.dictionaries(st.sampled_from(NAMES), sub, max_size=3),
            "patternProperties": st.dictionaries(st.sampled_from(PATTERNS), sub, max_size=2),
            "additionalProperties": sub, "propertyNames": sub, "required": names,
            "minProperties": count, "maxProperties": count,
            "dependencies": st.dictionaries(st.sampled_from(NAMES), names | sub, max_size=2),
            "items": sub | st.lists(sub, max_size=3), "additionalItems": sub, "contains": sub,
            "minItems": count, "maxItems": count, "uniqueItems": st.booleans(),
            "enum": st.lists(instances, min_size=1, max_size=4), "const": instances,
            "minimum": small, "maximum": small, "exclusiveMinimum": small, "exclusiveMaximum": small,
            "multipleOf": st.sampled_from([1, 2, 3, 0.5, 1.5, 0.1]),
            "minLength": count, "maxLength": count, "pattern": st.sampled_from(PATTERNS),
            "allOf": st.lists(sub, min_size=1, max_size=3), "anyOf": st.lists(sub, min_size=1, max_size=3),
            "oneOf": st.lists(sub, min_size=1, max_size=3), "not": sub, "if": sub, "then": sub, "else": sub,
            "format": st.just("ipv4"), "x-unknown": sub,
        }

    @st.composite
    def schema_object(draw, sub):
        table = keyword_values(sub)
        keys = draw(st.lists(st.sampled_from(sorted(table)), max_size=4, unique=True))
        return {key: draw(table[key]) for key in keys}

    refs = st.sampled_from([{"$ref": "#/definitions/d"}, {"$ref": "#/definitions/d", "type": "string"}])
    leaves = st.sampled_from([True, False, {}]) | refs | schema_object(st.sampled_from([True, False, {}]))
    schemas = st.recursive(leaves, schema_object, max_leaves=8)

    @st.composite
    def case(draw):
        schema = draw(schemas)
        if isinstance(schema, dict):
            schema = dict(schema, definitions={"d": draw(schema_object(st.sampled_from([True, False, {}])))})
        return schema, draw(instances)

    return case()


def outcome(fn, *args):
    try:
        return fn(*args)
    except (OverflowError, ValueError, TypeError) as e:
        return type(e).__name__


def test_random_schemas_over_every_keyword():
    hyp, st, settings = hypothesis()
    validator_class = spec._validator_class()
    seen = []

    @settings(1000)
    @hyp.given(keyword_schemas(st))
    def check(case):
        schema, instance = case
        try:
            ours = outcome(schemacheck.Schemas(None, {"t.json": schema}).is_valid, instance, "t.json")
        except schemacheck.SchemaError:
            ours = "undecided"  # spec then asks jsonschema
        else:
            theirs = outcome(validator_class(schema).is_valid, instance)
            assert ours == theirs, f"schemacheck: {ours}, jsonschema: {theirs}"
        seen.append(ours)

    check()
    COUNTS["random schemas"] = len(seen)
    assert len(seen) >= 1000 * SCALE * 0.9
    assert seen.count(True) > 200 and seen.count(False) > 200 and seen.count("undecided") < len(seen) / 50


# ---------------------------------------------------------------- patterns without re

def _schema_patterns():
    found = set()

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                found.add(node["pattern"])
            found.update(k for k in node.get("patternProperties", {}) if isinstance(k, str))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    for path in SCHEMAS.glob("*.json"):
        walk(json.loads(path.read_text()))
    return sorted(found)


CHAR_CLASS_PATTERNS = [p for p in _schema_patterns() if schemacheck._CharClassPattern.parse(p)] + [
    "^[a-c]+$", "^[^x-z\\s]*$", "^[-a]*$", "^[a-]+$", "^[\\n]*$"]
TRICKY = ["", "\n", "\n\n", "rwm", "rwm\n", "rwm\n\n", "r\nw", " \t\u2003", "0-3,5", "0-3,5\n", "x", "-",
          "a-", "\u0085", "\x1c", "é"]


def test_the_usual_device_access_pattern_needs_no_re():
    assert "^[rwm]*$" in CHAR_CLASS_PATTERNS


@pytest.mark.parametrize("pattern", CHAR_CLASS_PATTERNS)
def test_char_class_patterns_match_as_re_does(pattern):
    import re

    from hypothesis import given, settings
    from hypothesis import strategies as st

    matcher = schemacheck._CharClassPattern.parse(pattern)
    regex = re.compile(pattern)

    def same(text):
        assert bool(matcher.search(text)) == bool(regex.search(text)), (pattern, text)

    for text in TRICKY:
        same(text)
    alphabet = st.sampled_from(list("rwmxyz0123456789,- \t\n\r\u2003\u0085abcé"))
    settings(max_examples=300, deadline=None)(given(st.text(alphabet, max_size=8))(same))()


@pytest.mark.parametrize("pattern", ["^MB:[^\\n]*$", "^[1-9][0-9]*[KMG]B$", "^/", "^[a[]*$", "^[\\d]*$", "^[]*$"])
def test_other_patterns_are_left_to_re(pattern):
    assert schemacheck._CharClassPattern.parse(pattern) is None
