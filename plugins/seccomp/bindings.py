"""libseccomp's own Python bindings (Debian python3-seccomp, module ``seccomp``), found lazily.

The plugin loads without them, so that `lamina plugins` and `features` still work, but then
refuses every config that has linux.seccomp: a container never runs without the filter it asked
for.
"""

from __future__ import annotations

from types import ModuleType

MISSING = ("libseccomp's Python bindings (module seccomp) cannot be imported, so no filter can be "
           "built: install them (Debian/Ubuntu: apt-get install python3-seccomp; Fedora: "
           "dnf install python3-libseccomp) and make lamina's virtualenv see them "
           "(python3 -m venv --system-site-packages, as `make venv` does)")

_cache: list[ModuleType | None] = []


def module() -> ModuleType | None:
    """The ``seccomp`` module, or None when it is not installed (or fails to import)."""
    if not _cache:
        try:
            import seccomp
        except ImportError:
            _cache.append(None)
        else:
            _cache.append(seccomp)
    return _cache[0]
