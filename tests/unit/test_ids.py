"""Container ids become directory names under --root: only safe names pass, checked first."""

from __future__ import annotations

import pytest
from lamina.errors import LaminaError
from lamina.ids import MAX_ID_LEN, check_id


@pytest.mark.parametrize("cid", ["a", "abc-DEF_09", "x.y", "a+b", "..a", "a..", ".hidden", "-dash",
                                 "a" * MAX_ID_LEN, "1", "_"])
def test_valid(cid):
    assert check_id(cid) == cid


@pytest.mark.parametrize("cid,why", [
    ("", "must not be empty"),
    (".", "use only"),
    ("..", "use only"),
    ("../x", "use only"),
    ("a/b", "use only"),
    ("/abs", "use only"),
    ("a b", "use only"),
    (" a", "use only"),
    ("a\n", "use only"),
    ("a\0b", "use only"),
    ("a\tb", "use only"),
    ("a:b", "use only"),
    ("a*", "use only"),
    ("a\\b", "use only"),
    ("é", "use only"),
    ("a" * (MAX_ID_LEN + 1), f"longer than {MAX_ID_LEN}"),
])
def test_invalid(cid, why):
    with pytest.raises(LaminaError) as e:
        check_id(cid)
    msg = str(e.value)
    assert msg.startswith("invalid container id") and why in msg
    assert "\n" not in msg.replace(repr(cid), "")
