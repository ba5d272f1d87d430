"""Container id validation: ids become directory names under the state root."""

from __future__ import annotations

from lamina.errors import LaminaError

# runc allows 1024 characters, but the id names the state directory and no file name may be
# longer than NAME_MAX: a longer id could only fail later, half-way, with "file name too long"
MAX_ID_LEN = 255
# a set, not a regular expression: `re` costs milliseconds of import on every verb
_VALID = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+.-")


def check_id(cid: str) -> str:
    """Refuse ids that could name a path outside the state root, before any file is touched."""
    if not cid:
        raise LaminaError("invalid container id: must not be empty")
    if len(cid) > MAX_ID_LEN:
        raise LaminaError(f"invalid container id: {len(cid)} characters is longer than {MAX_ID_LEN} "
                          "(the id names its state directory)")
    if cid in (".", "..") or not _VALID.issuperset(cid):
        raise LaminaError(f"invalid container id {cid!r}: use only letters, digits and _ + . -")
    return cid
