"""Meta-tests of the plugin API: every hook is specified, documented for plugin authors with the
built-in plugins that implement it, and versioned; the loader's checks refuse what pluggy would
let pass. (That every hook is really called is tests/integration/test_plugin_api.py.)"""

from __future__ import annotations

import importlib
import os
import re
import tomllib

import pytest
from lamina import hookspecs, pluginapi
from lamina.errors import LaminaError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC = os.path.join(ROOT, "docs", "plugins.md")
HOOKS = sorted(n for n in dir(hookspecs) if n.startswith("lamina_"))


def sections() -> dict[str, str]:
    with open(DOC) as f:
        text = f.read()
    parts = re.split(r"^### (lamina_\w+)\s*$", text, flags=re.M)
    return {parts[i]: parts[i + 1].split("\n### ")[0] for i in range(1, len(parts), 2)}


def builtin_plugins() -> dict[str, object]:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        eps = tomllib.load(f)["project"]["entry-points"]["lamina.plugins"]
    return {name: importlib.import_module(target) for name, target in eps.items()}


def implemented(module) -> set[str]:
    out = set()
    for attr in dir(module):
        opts = getattr(getattr(module, attr), "lamina_impl", None) if attr.startswith("lamina_") else None
        if opts is not None:
            out.add(opts.get("specname") or attr)
    return out


def test_every_hookspec_has_a_docstring():
    for name in HOOKS:
        spec = getattr(hookspecs, name)
        assert hasattr(spec, "lamina_spec"), f"{name} is not marked @hookspec"
        assert (spec.__doc__ or "").strip(), f"{name} has no docstring in core/hookspecs.py"


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_is_documented(name):
    docs = sections()
    assert name in docs, f"docs/plugins.md has no '### {name}' section"
    body = docs[name]
    for item in ("**When:**", "**Process:**", "**Arguments:**", "**Result:**", "**Built-in:**"):
        assert item in body, f"docs/plugins.md, {name}: no {item} line"


def test_no_section_for_a_hook_that_does_not_exist():
    assert sorted(set(sections()) - set(HOOKS)) == []


@pytest.mark.parametrize("name", HOOKS)
def test_built_in_implementations_are_named_in_the_docs(name):
    """The 'Built-in' line of a hook names every built-in plugin that implements it."""
    built_in = sections()[name].split("**Built-in:**", 1)[1]
    missing = [p for p, mod in builtin_plugins().items() if name in implemented(mod) and p not in built_in]
    assert not missing, f"docs/plugins.md, {name}: built-in plugins {missing} implement it but are not named"


def test_hook_api_version_is_documented():
    with open(DOC) as f:
        text = f.read()
    assert f"| {hookspecs.HOOK_API_VERSION} |" in text, "no row for this hook API version in the history"
    assert 1 <= hookspecs.HOOK_API_MIN <= hookspecs.HOOK_API_VERSION


class _Plugin:
    LAMINA_HOOK_API = hookspecs.HOOK_API_VERSION


def test_version_declarations():
    v = pluginapi.check_version
    assert v("x", "acme", "acme", _Plugin) == hookspecs.HOOK_API_VERSION
    assert v("x", "lamina", "lamina.plugins.x.plugin", object()) == hookspecs.HOOK_API_VERSION
    for declared, message in ((None, "does not declare LAMINA_HOOK_API"),
                              (hookspecs.HOOK_API_VERSION + 1, "upgrade lamina"),
                              (hookspecs.HOOK_API_MIN - 1, "upgrade the plugin"),
                              ("2", "must be an integer")):
        obj = type("P", (), {} if declared is None else {"LAMINA_HOOK_API": declared})
        with pytest.raises(LaminaError, match=message):
            v("x", "acme", "acme", obj)
    # a module that merely sits under lamina.plugins but ships elsewhere is not built in
    with pytest.raises(LaminaError):
        v("x", "acme", "lamina.plugins.x", object())


def test_hook_names_are_checked():
    from lamina import hookimpl

    specs = pluginapi.spec_names()

    def make(**attrs):
        return type("P", (), {k: staticmethod(f) for k, f in attrs.items()})

    good = hookimpl(lambda ctx: None)
    pluginapi.check_hook_names("ok", make(lamina_prepare=good), specs)
    other = hookimpl(specname="lamina_prepare")(lambda ctx: None)
    pluginapi.check_hook_names("ok", make(lamina_prepare_late=other), specs)
    with pytest.raises(LaminaError, match="lamina_prepair is not a lamina hook .did you mean lamina_prepare"):
        pluginapi.check_hook_names("p", make(lamina_prepair=hookimpl(lambda ctx: None)), specs)
    with pytest.raises(LaminaError, match="not marked with @lamina.hookimpl"):
        pluginapi.check_hook_names("p", make(lamina_prepare=lambda ctx: None), specs)
    with pytest.raises(LaminaError, match="lamina_helper is not a lamina hook"):
        pluginapi.check_hook_names("p", make(lamina_helper=lambda: None), specs)
