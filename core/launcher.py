"""Write a faster `bin/lamina` for a virtualenv: the interpreter without `site` (`python -S`).

pip's console script starts a full interpreter: `site` reads pyvenv.cfg, walks every site
directory and runs the startup code of each `.pth` file there (setuptools' distutils shim, and
whatever else a host has installed), about 4 ms of every container operation, before lamina runs
a line. The launcher written here does only what lamina needs of that (and starts with the
cyclic garbage collector off: most commands end within milliseconds, and its passes over
every imported object cost ~1.5 ms; the few verbs that stay, a foreground `run` or `exec` and
`events`, turn it back on with `lamina.longlived()`): it makes `sys.prefix`
the virtualenv (as `site` would; the plugin index is kept per prefix), puts the site directories
on `sys.path` in site's order, adds the path lines of their `.pth` files (so a plugin installed
in editable mode is found), and runs the import lines of the virtualenv's own `.pth` files
except setuptools' `distutils-precedence.pth`. Import lines of system-wide `.pth` files are not
run: lamina and its plugins need none. `PYTHONPATH` is honoured as usual.

    python -m lamina.launcher            # rewrite <sys.prefix>/bin/lamina (make venv does this)

Without it (a plain `pip install`), pip's script works the same, only slower.
"""

from __future__ import annotations

import os
import site
import sys

TEMPLATE = '''#!{python} -S
# lamina's launcher, written by `python -m lamina.launcher` (see lamina/launcher.py for why)
import gc
gc.disable()  # a short-lived command; lamina.longlived turns it back on where one lives long
import sys
del sys.path[0]  # this script's directory (bin/): nothing to import there
sys.prefix = sys.exec_prefix = {prefix!r}
def _site(dirs, own):
    import os
    for d in dirs:
        try:
            names = sorted(n for n in os.listdir(d) if n.endswith(".pth"))
        except OSError:
            continue
        sys.path.append(d)
        for n in names:
            try:
                with open(os.path.join(d, n), encoding="utf-8") as f:
                    lines = f.read().splitlines()
            except OSError:
                continue
            for line in lines:
                if not line or line.startswith("#"):
                    continue
                if line.startswith(("import ", "import\\t")):
                    if d == own and n != "distutils-precedence.pth":
                        exec(line)
                    continue
                p = os.path.join(d, line.rstrip())
                if p not in sys.path and os.path.exists(p):
                    sys.path.append(p)
_site({dirs!r}, {own!r})
del _site
from lamina.cli.main import main
main()
'''


def render(python: str, prefix: str, dirs: list[str], own: str | None = None) -> str:
    """The launcher's text; ``own`` is the virtualenv's site-packages (by default the first of
    ``dirs`` under ``prefix``), the one directory whose .pth import lines run."""
    if own is None:
        own = next((d for d in dirs if d.startswith(prefix.rstrip("/") + "/")), "")
    return TEMPLATE.format(python=python, prefix=prefix, dirs=dirs, own=own)


def site_dirs() -> list[str]:
    """The site directories of this interpreter, in the order `site` puts them on sys.path."""
    return list(site.getsitepackages())


def write(path: str) -> None:
    python = os.path.join(sys.prefix, "bin", "python3")
    text = render(python, sys.prefix, site_dirs())
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o755)
    os.rename(tmp, path)


if __name__ == "__main__":
    write(sys.argv[1] if len(sys.argv) > 1 else os.path.join(sys.prefix, "bin", "lamina"))
