"""lamina.jsonfast gives exactly what json gives: the same values, the same text, json's errors."""

from __future__ import annotations

import glob
import json
import math
import os
import random
import subprocess
import sys

import pytest
from lamina import jsonfast

HERE = os.path.dirname(os.path.abspath(__file__))
REAL = sorted(glob.glob(os.path.join(HERE, "..", "..", "..", "shared", "conformance", "real-configs",
                                     "*.json")))

SAMPLES = [
    {}, [], "", 0, -1, 2**70, 1.5, -0.0, 1e300, 3.141592653589793, True, False, None,
    "plain", "quote \" backslash \\ tab \t newline \n", "\u00e9t\u00e9 \u2603 \U0001f600", "\x00\x1f",
    {"a": [1, 2, {"b": None}], "c": {"d": []}, "e": {}}, [[[]], [{}], ["x"]],
    {"z": 1, "a": 2, "m": {"y": 1, "b": 2}}, {1: "int key", 2.5: "float key", None: "n"}, {False: "f"},
]


def _random_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0:
        return rng.randrange(-10**12, 10**12)
    if kind == 1:
        return rng.uniform(-1e6, 1e6)
    if kind == 2:
        return "".join(chr(rng.choice([rng.randrange(32, 127), rng.randrange(0, 0x3000)]))
                       for _ in range(rng.randrange(12)))
    if kind == 3:
        return rng.choice([True, False, None])
    if kind == 4:
        return ""
    if kind in (5, 6):
        return {f"k{rng.randrange(50)}": _random_value(rng, depth + 1) for _ in range(rng.randrange(5))}
    return [_random_value(rng, depth + 1) for _ in range(rng.randrange(5))]


def _corpus():
    rng = random.Random(1234)
    out = list(SAMPLES) + [_random_value(rng) for _ in range(300)]
    for path in REAL:
        with open(path) as f:
            out.append(json.load(f))
    return out


@pytest.mark.parametrize("kwargs", [{}, {"sort_keys": True}, {"separators": (",", ":")},
                                    {"sort_keys": True, "separators": (",", ":")},
                                    {"indent": 2}, {"indent": "\t"}, {"indent": 2, "sort_keys": True}])
def test_dumps_is_json_dumps(kwargs):
    for value in _corpus():
        try:
            want = json.dumps(value, **kwargs)
        except TypeError:  # sort_keys over keys of mixed types
            with pytest.raises(TypeError):
                jsonfast.dumps(value, **kwargs)
            continue
        assert jsonfast.dumps(value, **kwargs) == want, value


def test_loads_is_json_loads():
    for value in _corpus():
        for text in (json.dumps(value), json.dumps(value, indent=2), f" \n\t{json.dumps(value)}\r\n"):
            assert jsonfast.loads(text) == json.loads(text)
            assert jsonfast.loads(text.encode()) == json.loads(text.encode())
    assert math.isnan(jsonfast.loads("NaN"))
    assert jsonfast.loads('[Infinity, -Infinity]') == [math.inf, -math.inf]
    assert jsonfast.loads(b"\xef\xbb\xbf{}") == json.loads(b"\xef\xbb\xbf{}")  # a BOM: json's rule
    assert jsonfast.loads('{"a": 1}'.encode("utf-16")) == {"a": 1}


@pytest.mark.parametrize("bad", ["", " ", "{", '{"a": }', "[1, 2", "[1] x", "tru", '"\x01"', "{'a': 1}",
                                 b"\xff\xfe\xfd", "01", "[1,]", '{"a" 1}'])
def test_errors_are_json_errors(bad):
    with pytest.raises(ValueError) as ours:
        jsonfast.loads(bad)
    with pytest.raises(ValueError) as theirs:
        json.loads(bad)
    assert type(ours.value) is type(theirs.value)
    assert str(ours.value) == str(theirs.value)


def test_unserializable_is_a_type_error():
    with pytest.raises(TypeError, match="not JSON serializable"):
        jsonfast.dumps({"a": object()})
    with pytest.raises(TypeError, match="not JSON serializable"):
        jsonfast.dumps([object()], indent=2)


@pytest.mark.parametrize("bad", ["{", '{"a": }', "[1] x", '"\\x"', "nul"])
def test_errors_without_json_imported(bad):
    """The C scanner finds json's error class only once json.decoder is imported: in a fresh
    interpreter (as lamina runs) a bad document must still give json's own error."""
    code = ("import sys; from lamina import jsonfast\n"
            "try:\n    jsonfast.loads(sys.argv[1])\n"
            "except ValueError as e:\n    print(type(e).__name__, e)")
    p = subprocess.run([sys.executable, "-S", "-c", f"import sys; sys.path[:0] = {sys.path!r}\n{code}", bad],
                       capture_output=True, text=True)
    try:
        json.loads(bad)
    except ValueError as e:
        want = f"{type(e).__name__} {e}"
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == want


def test_it_does_not_import_re():
    code = ("import sys; from lamina import jsonfast; "
            "jsonfast.loads(jsonfast.dumps({'a': [1.5, 'x']}, indent=2)); "
            "print('re' in sys.modules, 'json' in sys.modules)")
    p = subprocess.run([sys.executable, "-S", "-c", f"import sys; sys.path[:0] = {sys.path!r}; {code}"],
                       capture_output=True, text=True, check=True)
    assert p.stdout.split() == ["False", "False"]
