"""Valid or not against ocirt's own schemas, without jsonschema.

Importing jsonschema, building a validator and running it the first time
cost ~100 ms per process, more than everything else `create` does. This
module gives the same verdict for a 20 KB config in ~2 ms the first time in
a process (reading and compiling the schema included), ~0.15 ms after that.
tests/unit/test_schemacheck.py compares its verdict with jsonschema's on
every fixture and on thousands of generated documents and schemas. It only
says yes or no: `spec._check_schema` asks it first and runs jsonschema only
for a document it rejects, to word the error exactly as before.

Semantics are those of `spec._validator_class`: jsonschema's
Draft7Validator (every draft-07 keyword, `$ref` siblings ignored, `format`
not checked, unknown keywords ignored) with an integer type that is a
Python int and never 1.0. Instances are what a JSON parser returns (dict,
list, str, int, float, bool, None).

How: the first time a schema object is needed it becomes one Python
function (instance -> bool) that stops at the first violation. A `$ref`
becomes a stub that resolves and compiles its target on its first call, so
parts of the schema a document does not use are never compiled. Schema
files are read with ocirt.jsonfast. A pattern that is one character class
repeated (`^[rwm]*$`, the one a usual config meets) is matched without
`re`, whose import (with enum) costs ~6 ms; `re` is imported the first time
any other pattern must be evaluated (jsonschema searches patterns with `re`
too, and the tests compare the two on every such pattern of the schemas).

What this module does not interpret ($id, $schema, a $ref outside the
schema directory, a keyword value of the wrong kind) raises SchemaError,
possibly in the middle of a check; callers then ask jsonschema instead.
"""
import os


class SchemaError(Exception):
    """The schema uses something this module does not interpret, or cannot be read."""


class _CharClassPattern:
    """`^[class]*$` or `^[class]+$` as re.search reads it, without importing re.

    The class may hold literal characters, ranges (a-z), `\\s` (what
    str.isspace() calls whitespace, as re does for str patterns) and `\\n`,
    and may be negated. `$` also matches before one final newline, as in re.
    """

    def __init__(self, negated, chars, ranges, whitespace, at_least_one):
        self._negated, self._chars, self._ranges = negated, chars, ranges
        self._whitespace, self._min = whitespace, 1 if at_least_one else 0

    @classmethod
    def parse(cls, pattern):
        """The matcher, or None when the pattern has any other shape."""
        if not (isinstance(pattern, str) and pattern.startswith("^[") and pattern[-3:] in ("]*$", "]+$")):
            return None
        body = pattern[2:-3]
        negated = body.startswith("^")
        if negated:
            body = body[1:]
        chars, ranges, whitespace, i = set(), [], False, 0
        while i < len(body):
            c = body[i]
            if c == "\\":
                escaped = body[i + 1:i + 2]
                if escaped == "s":
                    whitespace = True
                elif escaped == "n":
                    chars.add("\n")
                else:
                    return None
                i += 2
            elif c in "[]^":
                return None
            elif body[i + 1:i + 2] == "-" and i + 2 < len(body) and body[i + 2] not in "\\[]":
                ranges.append((c, body[i + 2]))
                i += 3
            else:
                chars.add(c)
                i += 1
        if not body:
            return None
        return cls(negated, frozenset(chars), tuple(ranges), whitespace, pattern[-2] == "+")

    def _in_class(self, c):
        inside = c in self._chars or (self._whitespace and c.isspace()) or \
            any(low <= c <= high for low, high in self._ranges)
        return inside != self._negated

    def _whole(self, text):
        return len(text) >= self._min and all(self._in_class(c) for c in text)

    def search(self, text):
        """True, or None as re.search gives for no match."""
        if self._whole(text) or (text.endswith("\n") and self._whole(text[:-1])):
            return True
        return None


def _accept(_x):
    return True


def _reject(_x):
    return False


def _is_integer(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _is_null(x):
    return x is None


_TYPES = {
    "array": lambda x: isinstance(x, list),
    "boolean": lambda x: isinstance(x, bool),
    "integer": _is_integer,
    "null": _is_null,
    "number": _is_number,
    "object": lambda x: isinstance(x, dict),
    "string": lambda x: isinstance(x, str),
}

# Keywords that change how references resolve or which draft applies.
_UNSUPPORTED = ("$id", "$schema")
# Read together, in one pass over an object's members.
_MEMBER_KEYWORDS = ("properties", "patternProperties", "additionalProperties")


# -- jsonschema._utils.equal and uniq, for JSON values ---------------------

_TRUE, _FALSE = object(), object()


def _unbool(x):
    return _TRUE if x is True else _FALSE if x is False else x


def _equal(one, two):
    """Equality as JSON Schema means it: True is not 1, [1] equals [1.0]."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return one == two
    if isinstance(one, (list, tuple)) and isinstance(two, (list, tuple)):
        return len(one) == len(two) and all(_equal(a, b) for a, b in zip(one, two))
    if isinstance(one, dict) and isinstance(two, dict):
        return len(one) == len(two) and all(key in two and _equal(value, two[key]) for key, value in one.items())
    return _unbool(one) == _unbool(two)


def _unique(items):
    # the same algorithm as jsonschema's, so the same answer on odd inputs (nan)
    try:
        ordered = sorted(_unbool(item) for item in items)
        for a, b in zip(ordered, ordered[1:]):
            if _equal(a, b):
                return False
    except (NotImplementedError, TypeError):
        seen = []
        for item in items:
            item = _unbool(item)
            for other in seen:
                if _equal(other, item):
                    return False
            seen.append(item)
    return True


# -- the schema files --------------------------------------------------------

class Schemas:
    """The *.json files of one directory, each known by its file name, as
    spec._load_registry registers them. Prepared lazily, once per process."""

    def __init__(self, directory, documents=None):
        self.directory = directory
        self._documents = dict(documents or {})  # file name -> parsed contents (read on first use)
        self._compiled = {}   # "file#fragment" -> check function
        self._regexes = {}    # pattern -> compiled pattern

    def is_valid(self, instance, target):
        """Whether `instance` is valid for `target` ("config.json",
        "defs.json#/definitions/process"); SchemaError when undecidable here."""
        return self.checker(target)(instance)

    def checker(self, target):
        """The check function for `target`, compiled on first use."""
        check = self._compiled.get(target)
        if check is None:
            document, fragment = self._split(target, "")
            check = self._resolve(document, fragment)
            self._compiled[target] = check
        return check

    # -- references

    def _split(self, ref, base):
        """A $ref (relative to the file `base`) -> (file name, JSON pointer)."""
        if not isinstance(ref, str):
            raise SchemaError(f"$ref {ref!r} is not a string")
        document, _, fragment = ref.partition("#")
        if not document:
            document = base
        elif not document.endswith(".json") or any(c in document for c in "/\\:%?"):
            # spec._load_registry registers the *.json files of one directory by name
            raise SchemaError(f"$ref {ref!r} does not name a schema file in the directory")
        if "%" in fragment or (fragment and not fragment.startswith("/")):
            raise SchemaError(f"$ref {ref!r}: only plain JSON pointers are interpreted")
        if not document:
            raise SchemaError(f"$ref {ref!r} has no document")
        return document, fragment

    def _ref(self, ref, base):
        document, fragment = self._split(ref, base)
        key = document + "#" + fragment
        compiled = self._compiled
        check = compiled.get(key)
        if check is not None:
            return check

        def stub(x):
            found = compiled.get(key)
            if found is None:
                found = self._resolve(document, fragment)
            return found(x)

        return stub

    def _resolve(self, document, fragment):
        key = document + "#" + fragment
        found = self._compiled.get(key)
        if found is not None:
            return found
        node = self._document(document)
        for token in fragment.split("/")[1:]:
            token = token.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict):
                if any(k in node for k in _UNSUPPORTED):
                    raise SchemaError(f"{document}#{fragment}: the path crosses an $id or $schema")
                if token not in node:
                    raise SchemaError(f"{document}#{fragment} does not exist")
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                raise SchemaError(f"{document}#{fragment} does not exist")
        # A reference back to a schema being compiled meets the stub of
        # _ref, which finds the finished function here on its first call.
        found = self._compile(node, document)
        self._compiled[key] = found
        return found

    def _document(self, name):
        document = self._documents.get(name)
        if document is None:
            from ocirt import jsonfast

            try:
                with open(os.path.join(self.directory, name), "rb") as f:
                    document = jsonfast.loads(f.read())
            except (OSError, ValueError) as e:
                raise SchemaError(f"cannot load the schema {name} in {self.directory}: {e}") from None
            self._documents[name] = document
        return document

    def _regex(self, pattern):
        regex = self._regexes.get(pattern)
        if regex is None:
            regex = _CharClassPattern.parse(pattern)
        if regex is None:
            import re

            try:
                regex = re.compile(pattern)
            except (re.error, TypeError) as e:
                raise SchemaError(f"pattern {pattern!r}: {e}") from None
            self._regexes[pattern] = regex
        return regex

    # -- compiling

    def _compile(self, schema, base):
        """One schema (an object or a boolean) -> a function instance -> bool."""
        if schema is True:
            return _accept
        if schema is False:
            return _reject
        if not isinstance(schema, dict):
            raise SchemaError(f"{schema!r} is not a schema")
        if "$ref" in schema:
            # draft 7: the siblings of $ref are ignored
            return self._ref(schema["$ref"], base)
        for key in _UNSUPPORTED:
            if key in schema:
                raise SchemaError(f"{key} is not interpreted")
        checks = []
        for keyword, value in schema.items():
            make = _KEYWORDS.get(keyword)
            # annotations, and words draft 7 does not know, never fail
            check = make(self, value, schema, base) if make is not None else None
            if check is not None:
                checks.append(check)
        if any(keyword in schema for keyword in _MEMBER_KEYWORDS):
            check = _members(self, schema, base)
            if check is not None:
                checks.append(check)
        if not checks:
            return _accept
        if len(checks) == 1:
            return checks[0]
        checks = tuple(checks)
        if len(checks) == 2:
            first, second = checks
            return lambda x: first(x) and second(x)

        def all_of(x):
            for check in checks:
                if not check(x):
                    return False
            return True

        return all_of

    def _schemas(self, value, base):
        if not isinstance(value, list):
            raise SchemaError(f"{value!r} is not a list of schemas")
        return tuple(self._compile(item, base) for item in value)


def _require(condition, keyword, value):
    if not condition:
        raise SchemaError(f"{keyword}: {value!r} is not interpreted")


def _k_type(self, value, schema, base):
    names = [value] if isinstance(value, str) else value
    _require(isinstance(names, list) and all(isinstance(n, str) and n in _TYPES for n in names), "type", value)
    predicates = tuple(_TYPES[name] for name in names)
    if len(predicates) == 1:
        return predicates[0]
    return lambda x: any(p(x) for p in predicates)


def _members(self, schema, base):
    """properties, patternProperties and additionalProperties in one pass over
    the instance's members (jsonschema runs them one after another; all must
    pass, so the verdict is the same)."""
    properties = schema.get("properties", {})
    patterns = schema.get("patternProperties", {})
    _require(isinstance(properties, dict), "properties", properties)
    _require(isinstance(patterns, dict), "patternProperties", patterns)
    named = {name: self._compile(sub, base) for name, sub in properties.items()}
    matched = tuple((pattern, self._compile(sub, base)) for pattern, sub in patterns.items())
    regex = self._regex
    extra = schema.get("additionalProperties", True)
    if isinstance(extra, dict):
        extra = self._compile(extra, base)
    elif not extra:
        extra = _reject
    else:
        extra = None
    # jsonschema._utils.find_additional_properties: one search for all the patterns
    joined = "|".join(patterns)
    if not matched and extra is None:
        if not named:
            return None

        def members(x):
            if isinstance(x, dict):
                for key, item in x.items():
                    check = named.get(key)
                    if check is not None and not check(item):
                        return False
            return True

        return members

    def members(x):
        if not isinstance(x, dict):
            return True
        for key, item in x.items():
            check = named.get(key)
            if check is not None:
                if not check(item):
                    return False
            elif extra is not None and not (joined and regex(joined).search(key)) and not extra(item):
                return False
            for pattern, by_pattern in matched:
                if regex(pattern).search(key) and not by_pattern(item):
                    return False
        return True

    return members


def _k_required(self, value, schema, base):
    _require(isinstance(value, list), "required", value)
    names = tuple(value)
    if not names:
        return None

    def required(x):
        if isinstance(x, dict):
            for name in names:
                if name not in x:
                    return False
        return True

    return required


def _k_items(self, value, schema, base):
    if isinstance(value, list):
        positional = tuple(self._compile(sub, base) for sub in value)
        extra = schema.get("additionalItems", True)
        if isinstance(extra, dict):
            extra = self._compile(extra, base)
        elif not extra:
            extra = _reject
        else:
            extra = None
        count = len(positional)

        def items(x):
            if not isinstance(x, list):
                return True
            for check, item in zip(positional, x):
                if not check(item):
                    return False
            if extra is not None:
                for item in x[count:]:
                    if not extra(item):
                        return False
            return True

        return items
    _require("additionalItems" not in schema or isinstance(value, dict), "additionalItems", value)
    return _every(self._compile(value, base), list)


def _every(check, kind):
    """A check that every member of an instance of `kind` (a list's items, a
    dict's keys) passes `check`; None (nothing to check) when `check` accepts all."""
    if check is _accept:
        return None
    return lambda x: not isinstance(x, kind) or all(map(check, x))


def _k_contains(self, value, schema, base):
    check = self._compile(value, base)
    return lambda x: not isinstance(x, list) or any(check(item) for item in x)


def _k_enum(self, value, schema, base):
    _require(isinstance(value, (list, tuple)), "enum", value)
    choices = tuple(value)
    strings = frozenset(c for c in choices if isinstance(c, str))

    def enum(x):
        if isinstance(x, str):
            # equal() compares a string with == only, and only a string equals a string
            return x in strings
        for choice in choices:
            if _equal(choice, x):
                return True
        return False

    return enum


def _k_const(self, value, schema, base):
    return lambda x: _equal(x, value)


def _number_keyword(keyword, compare):
    def make(self, value, schema, base):
        _require(_is_number(value), keyword, value)
        return lambda x: not _is_number(x) or compare(x, value)

    return make


def _k_multiple_of(self, value, schema, base):
    _require(_is_number(value) and value > 0, "multipleOf", value)

    def multiple_of(x):
        if not _is_number(x):
            return True
        if isinstance(value, float):
            quotient = x / value
            try:
                return int(quotient) == quotient
            except OverflowError:
                from fractions import Fraction

                return (Fraction(x) / Fraction(value)).denominator == 1
        return not x % value

    return multiple_of


def _size_keyword(keyword, kind, at_least):
    def make(self, value, schema, base):
        _require(_is_number(value), keyword, value)
        if at_least:
            return lambda x: not isinstance(x, kind) or len(x) >= value
        return lambda x: not isinstance(x, kind) or len(x) <= value

    return make


def _k_unique_items(self, value, schema, base):
    if not value:
        return None
    return lambda x: not isinstance(x, list) or _unique(x)


def _k_pattern(self, value, schema, base):
    _require(isinstance(value, str), "pattern", value)
    regex = self._regex
    return lambda x: not isinstance(x, str) or regex(value).search(x) is not None


def _k_property_names(self, value, schema, base):
    return _every(self._compile(value, base), dict)


def _k_dependencies(self, value, schema, base):
    _require(isinstance(value, dict), "dependencies", value)
    rules = []
    for name, dependency in value.items():
        if isinstance(dependency, list):
            names = tuple(dependency)
            rules.append((name, lambda x, names=names: all(n in x for n in names)))
        else:
            rules.append((name, self._compile(dependency, base)))
    rules = tuple(rules)

    def dependencies(x):
        if isinstance(x, dict):
            for name, check in rules:
                if name in x and not check(x):
                    return False
        return True

    return dependencies


def _k_all_of(self, value, schema, base):
    checks = self._schemas(value, base)
    return lambda x: all(check(x) for check in checks)


def _k_any_of(self, value, schema, base):
    checks = self._schemas(value, base)
    return lambda x: any(check(x) for check in checks)


def _k_one_of(self, value, schema, base):
    checks = self._schemas(value, base)

    def one_of(x):
        found = False
        for check in checks:
            if check(x):
                if found:
                    return False
                found = True
        return found

    return one_of


def _k_not(self, value, schema, base):
    check = self._compile(value, base)
    return lambda x: not check(x)


def _k_if(self, value, schema, base):
    condition = self._compile(value, base)
    then = self._compile(schema["then"], base) if "then" in schema else _accept
    otherwise = self._compile(schema["else"], base) if "else" in schema else _accept
    if then is _accept and otherwise is _accept:
        return None
    return lambda x: then(x) if condition(x) else otherwise(x)


_KEYWORDS = {
    "type": _k_type,
    "required": _k_required,
    "items": _k_items,
    "contains": _k_contains,
    "enum": _k_enum,
    "const": _k_const,
    "minimum": _number_keyword("minimum", lambda x, v: not x < v),
    "maximum": _number_keyword("maximum", lambda x, v: not x > v),
    "exclusiveMinimum": _number_keyword("exclusiveMinimum", lambda x, v: not x <= v),
    "exclusiveMaximum": _number_keyword("exclusiveMaximum", lambda x, v: not x >= v),
    "multipleOf": _k_multiple_of,
    "minLength": _size_keyword("minLength", str, True),
    "maxLength": _size_keyword("maxLength", str, False),
    "minItems": _size_keyword("minItems", list, True),
    "maxItems": _size_keyword("maxItems", list, False),
    "minProperties": _size_keyword("minProperties", dict, True),
    "maxProperties": _size_keyword("maxProperties", dict, False),
    "uniqueItems": _k_unique_items,
    "pattern": _k_pattern,
    "propertyNames": _k_property_names,
    "dependencies": _k_dependencies,
    "allOf": _k_all_of,
    "anyOf": _k_any_of,
    "oneOf": _k_one_of,
    "not": _k_not,
    "if": _k_if,
}
