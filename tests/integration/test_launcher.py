"""The `bin/lamina` launcher (lamina.launcher): python -S, with the site directories set up by hand.

It must find everything pip's console script finds: lamina, plugins installed beside it, plugins
reached through a .pth path line (an editable install), PYTHONPATH; and it must not run the
startup code of system-wide .pth files, which is where its speed comes from.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys

from lamina import launcher
from lamina.testing import install_plugin

PLUGIN = '''
from lamina import hookimpl

LAMINA_HOOK_API = 2


@hookimpl
def lamina_claims():
    return []
'''


def test_make_venv_installed_the_launcher():
    path = os.path.join(sys.prefix, "bin", "lamina")
    with open(path) as f:
        first = f.readline().strip()
    assert first == f"#!{os.path.join(sys.prefix, 'bin', 'python3')} -S", first


def _launcher(tmp_path, own: str, other: str) -> str:
    text = launcher.render(os.path.join(sys.prefix, "bin", "python3"), sys.prefix,
                           [own, *site.getsitepackages(), other], own=own)
    path = tmp_path / "lamina"
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


def test_pth_path_lines_everywhere_import_lines_only_in_the_venv(tmp_path):
    own, other, editable = tmp_path / "own", tmp_path / "other", tmp_path / "editable"
    for d in (own, other, editable):
        d.mkdir()
    install_plugin(str(editable), "viapth", PLUGIN)
    ran_own, ran_other = tmp_path / "ran-own", tmp_path / "ran-other"
    (own / "editable.pth").write_text(f"# an editable install\n{editable}\n"
                                      f"import os; os.close(os.open({str(ran_own)!r}, os.O_CREAT))\n")
    (other / "startup.pth").write_text(f"import os; os.close(os.open({str(ran_other)!r}, os.O_CREAT))\n")
    exe = _launcher(tmp_path, str(own), str(other))
    env = dict(os.environ, LAMINA_CACHE_DIR=str(tmp_path / "cache"))
    p = subprocess.run([exe, "plugins"], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "viapth 0.0.1 (lamina-test-viapth, enabled)" in p.stdout
    assert "namespaces" in p.stdout  # the built-ins, from the real site-packages
    assert ran_own.exists()
    assert not ran_other.exists()


def test_pythonpath_and_prefix_as_with_site(tmp_path):
    probe = tmp_path / "sitecheck"
    probe.mkdir()
    install_plugin(str(probe), "viapath", PLUGIN)
    exe = _launcher(tmp_path, site.getsitepackages()[0], str(tmp_path / "absent"))
    env = dict(os.environ, PYTHONPATH=str(probe), LAMINA_CACHE_DIR=str(tmp_path / "cache"))
    p = subprocess.run([exe, "plugins"], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "viapath 0.0.1" in p.stdout
    # the plugin index is kept per prefix: the launcher's prefix is the virtualenv's, as site's is
    cached = os.listdir(tmp_path / "cache")
    assert cached == [f"plugin-index-{sys.prefix.strip('/').replace('/', '_')}.json"], cached
