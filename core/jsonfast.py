"""JSON through the C accelerator `_json` alone, for the verbs that run on every container operation.

The `json` package compiles regular expressions when it is imported (json.decoder, json.encoder,
json.scanner), which brings in `re` and `enum`: about 7 ms of a `lamina state` that otherwise
takes some 12. The scanner and encoder that `json` itself uses live in `_json`; driven directly
they give the same objects and the same text. Anything out of the ordinary goes to `json`
itself: a document that does not parse (so that the error message is json's own, with its
position), bytes that are not UTF-8, and options this module does not offer.

Output matches `json.dumps` with the same arguments (ensure_ascii, allow_nan, check_circular as
by default); `tests/unit/test_jsonfast.py` holds the two to that.
"""

from __future__ import annotations

import _json

_WS = " \t\n\r"


def _constant(name: str) -> float:
    return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]


class _Decoding:
    """The attributes `_json.make_scanner` reads from json.JSONDecoder (its defaults)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_constant)


_scan = _json.make_scanner(_Decoding())


def loads(data: str | bytes | bytearray):
    """json.loads(data): the same value, or json's own ValueError (JSONDecodeError)."""
    if isinstance(data, (bytes, bytearray)):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is None or text.startswith("\ufeff"):
            return _slow_loads(data)
    else:
        text = data
    start = len(text) - len(text.lstrip(_WS))
    try:
        value, end = _scan(text, start)
    except (StopIteration, ValueError, SystemError):
        # SystemError: the scanner reports errors as json.decoder.JSONDecodeError, which it only
        # finds when json.decoder was imported already (it is not, here)
        return _slow_loads(data)
    if text[end:].strip(_WS):
        return _slow_loads(data)
    return value


def _slow_loads(data):
    import json

    return json.loads(data)


def _default(o):
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


def dumps(obj, *, sort_keys: bool = False, separators: tuple[str, str] | None = None,
          indent: int | str | None = None) -> str:
    """json.dumps(obj, sort_keys=..., separators=..., indent=...)."""
    if indent is not None:
        item, key = separators or (",", ": ")
        return _indented(obj, indent if isinstance(indent, str) else " " * indent, "", item, key,
                         sort_keys)
    item, key = separators or (", ", ": ")
    encode = _json.make_encoder({}, _default, _json.encode_basestring_ascii, None, key, item,
                                sort_keys, False, True)
    return "".join(encode(obj, 0))


def _indented(o, step: str, at: str, item: str, key: str, sort_keys: bool) -> str:
    """json.dumps with indent: the C encoder has no indentation, and json's Python encoder is the
    module that imports re."""
    if isinstance(o, dict):
        if not o:
            return "{}"
        inner = at + step
        pairs = sorted(o.items()) if sort_keys else o.items()
        parts = [f"{_key(k)}{key}{_indented(v, step, inner, item, key, sort_keys)}" for k, v in pairs]
        return "{\n" + inner + (item + "\n" + inner).join(parts) + "\n" + at + "}"
    if isinstance(o, (list, tuple)):
        if not o:
            return "[]"
        inner = at + step
        parts = [_indented(v, step, inner, item, key, sort_keys) for v in o]
        return "[\n" + inner + (item + "\n" + inner).join(parts) + "\n" + at + "]"
    return dumps(o)


def _key(k) -> str:
    if isinstance(k, str):
        return _json.encode_basestring_ascii(k)
    if k is True:
        return '"true"'
    if k is False:
        return '"false"'
    if k is None:
        return '"null"'
    if isinstance(k, (int, float)):
        return _json.encode_basestring_ascii(dumps(k))
    raise TypeError(f"keys must be str, int, float, bool or None, not {k.__class__.__name__}")
