#!/usr/bin/python3
"""The test VM: a Debian 12 guest with SELinux enforcing and pure cgroup v2, for the tests this
host cannot run (it has SELinux disabled and hybrid cgroups).

    vm.py build                 build the cached image (once; see image.py)
    vm.py run [-- PYTEST_ARGS]  copy this project into a fresh boot, install it into the guest's
                                venv (offline), run pytest there (default: -m "selinux or cgroups"),
                                print its output, power off; exit with pytest's status
    vm.py shell CMD             the same boot, but run one shell command instead of pytest

qemu runs with software emulation (``-accel tcg -cpu max``): ``/dev/kvm`` on the team's machines
is nested PVM, under which a stock Debian kernel hangs. The guest boots the ELF vmlinux through
its PVH entry (~10 s to the first command). The project goes in as a tar of the tree and a
wheel built on the host, through a read-only 9p share; the guest's output comes back on its
second serial port, ending with ``LAMINA-VM-EXIT=<status>``. The image is booted with
``snapshot=on``: nothing a run does is kept, and runs may happen in parallel.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import image  # noqa: E402

PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_PYTEST = ["-m", "selinux or cgroups", "-rfEs", "tests"]
EXIT_MARK = "LAMINA-VM-EXIT="
DOMAIN = "unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023"  # a root login's
COPY_IGNORE = shutil.ignore_patterns(".git", "__pycache__", "build", "*.egg-info", ".ruff_cache",
                                     ".pytest_cache", "*.pyc")
QEMU = "qemu-system-x86_64"


@dataclass
class Result:
    status: int  # the command's exit status; 125 when the VM reported none (crash, timeout)
    output: str  # what the command printed (stdout and stderr), from the guest's second serial port
    console: str  # the guest kernel's console (boot messages), for diagnosis
    seconds: float


def qemu_missing() -> str | None:
    """Why qemu cannot be used here, or None."""
    if not shutil.which(QEMU):
        return f"{QEMU} not installed (Debian package qemu-system-x86)"
    return None


def _wheel(src: str, out: str) -> str:
    """Build the project's wheel on the host (fast, native) from the copy in ``src``."""
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        "--disable-pip-version-check", "-w", out, src],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL)
    shutil.rmtree(os.path.join(src, "build"), ignore_errors=True)
    for f in os.listdir(src):
        if f.endswith(".egg-info"):
            shutil.rmtree(os.path.join(src, f), ignore_errors=True)
    wheels = [f for f in os.listdir(out) if f.endswith(".whl")]
    if p.returncode != 0 or not wheels:
        raise RuntimeError(f"building the project's wheel failed: {(p.stderr or p.stdout).strip()[-500:]}")
    return wheels[0]


RUN_SH = """\
# one VM run, as root in {domain}
export LAMINA_IN_VM=1 HOME=/root LC_ALL=C.UTF-8 COLUMNS=120 TERM=dumb
export PATH={venv}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
echo "=== lamina-vm: kernel $(uname -r), getenforce: $(getenforce), \\
$(cat /proc/self/attr/current | tr -d '\\0')"
echo "=== lamina-vm: /sys/fs/cgroup is $(stat -fc %T /sys/fs/cgroup), \\
controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
t0=$(cut -d' ' -f1 /proc/uptime)
avc0=$(dmesg | wc -l)
mkdir -p /src && tar -xf /mnt/ctl/src.tar -C /src || exit 124
python /mnt/ctl/install_wheel.py /mnt/ctl/{wheel} {venv} || exit 124
echo "=== lamina-vm: guest uptime $t0 s at the start of run.sh, \\
$(cut -d' ' -f1 /proc/uptime) s once installed"
cd /src
{command}
rc=$?
dmesg | tail -n +$((avc0 + 1)) | grep 'avc: *denied' > /tmp/.avc
echo "=== lamina-vm: $(wc -l < /tmp/.avc) AVC denials during the run (the last ones follow)"
sed -e 's/^\\[[ 0-9.]*\\] //' /tmp/.avc | tail -n 15
exit $rc
"""


# Installing a wheel is unpacking it, plus the console scripts; pip itself takes ~20 s to start
# under emulation, this takes ~2. The venv is the image's, fresh at every boot (snapshot=on).
INSTALL_WHEEL = """\
import compileall, configparser, os, sys, sysconfig, zipfile
wheel, venv = sys.argv[1], sys.argv[2]
site = sysconfig.get_paths(vars={"base": venv, "platbase": venv})["purelib"]
with zipfile.ZipFile(wheel) as z:
    z.extractall(site)
    names = z.namelist()
info = next(n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info"))
eps = configparser.ConfigParser()
eps.read(os.path.join(site, info, "entry_points.txt"))
for name, target in (eps["console_scripts"].items() if eps.has_section("console_scripts") else []):
    mod, _, func = target.partition(":")
    path = os.path.join(venv, "bin", name)
    with open(path, "w") as f:
        f.write(f"#!{venv}/bin/python\\nimport sys\\nfrom {mod} import {func}\\nsys.exit({func}())\\n")
    os.chmod(path, 0o755)
with open(os.path.join(site, info, "INSTALLER"), "w") as f:
    f.write("lamina-vm\\n")
top = {n.split("/")[0] for n in names} - {info}
dirs = [os.path.join(site, t) for t in top if os.path.isdir(os.path.join(site, t))]
ok = all(compileall.compile_dir(d, quiet=1) for d in dirs)
sys.exit(0 if ok else 1)
"""


def _tar_tree(tree: str, out: str) -> None:
    import tarfile

    with tarfile.open(out, "w") as t:
        for name in sorted(os.listdir(tree)):
            t.add(os.path.join(tree, name), arcname=name)


def run(command: str, src: str | None = PROJECT, timeout: float = 900, enforcing: bool = True,
        keep: bool = False, img: image.Image | None = None) -> Result:
    """Boot the image, run ``command`` (a shell command, in /src when ``src`` is given) and return
    its status and output. Builds the image first if needed (image.BuildError)."""
    img = img or image.build()
    work = tempfile.mkdtemp(prefix="lamina-vm-run-", dir="/var/tmp")
    ctl = os.path.join(work, "ctl")
    os.makedirs(ctl)
    shares = ["-virtfs", f"local,path={ctl},mount_tag=ctl,security_model=none,readonly=on"]
    wheel = ""
    if src:
        tree = os.path.join(work, "src")
        shutil.copytree(src, tree, symlinks=True, ignore=COPY_IGNORE)
        wheel = _wheel(tree, ctl)
        _tar_tree(tree, os.path.join(ctl, "src.tar"))  # one file over 9p, not hundreds
        with open(os.path.join(ctl, "install_wheel.py"), "w") as f:
            f.write(INSTALL_WHEEL)
    else:
        command = f"cd /tmp; {command}"
    script = RUN_SH.format(domain=DOMAIN, venv=image.VENV, wheel=wheel, command=command)
    if not src:  # nothing to install
        script = "\n".join(ln for ln in script.splitlines()
                           if "src.tar" not in ln and "install_wheel" not in ln)
    with open(os.path.join(ctl, "run.sh"), "w") as f:
        f.write(script)
    with open(os.path.join(ctl, "domain"), "w") as f:
        f.write(DOMAIN + "\n")
    out_log, con_log = os.path.join(work, "out.log"), os.path.join(work, "console.log")
    append = (f"console=ttyS0 security=selinux selinux=1 enforcing={int(enforcing)} cgroup_no_v1=all "
              "panic=-1 quiet loglevel=3 audit_backlog_limit=8192")
    argv = [QEMU, "-accel", "tcg,thread=multi", "-cpu", "max", "-smp", "2", "-m", "2048",
            "-display", "none", "-monitor", "none", "-no-reboot", "-nodefaults",
            "-kernel", img.kernel, "-initrd", img.initrd, "-append", append,
            "-drive", f"file={img.rootfs},format=raw,if=virtio,snapshot=on",
            *shares, "-serial", f"file:{con_log}", "-serial", f"file:{out_log}"]
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    timed_out = False
    try:
        qemu_out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        proc.kill()  # our own qemu, by its pid
        qemu_out, _ = proc.communicate()
    seconds = time.monotonic() - t0

    def read(p: str) -> str:
        try:
            with open(p, "rb") as f:
                return f.read().decode(errors="replace").replace("\r", "")
        except OSError:
            return ""

    out, console = read(out_log), read(con_log)
    status = 125
    lines = []
    for ln in out.splitlines():
        if ln.startswith(EXIT_MARK):
            status = int(ln[len(EXIT_MARK):] or 125)
        else:
            lines.append(ln)
    if timed_out:
        lines.append(f"=== lamina-vm: killed after {timeout:.0f}s (timeout)")
    elif status == 125 and not any(EXIT_MARK in ln for ln in out.splitlines()):
        lines.append(f"=== lamina-vm: the VM reported no exit status (qemu exit {proc.returncode}: "
                     f"{qemu_out.decode(errors='replace').strip()[-300:]})")
    lines.append(f"=== lamina-vm: VM wall time {seconds:.1f}s")
    if keep:
        lines.append(f"=== lamina-vm: run directory kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return Result(status, "\n".join(lines) + "\n", console, seconds)


def pytest_command(args: list[str]) -> str:
    return " ".join(["python", "-m", "pytest", "-p", "no:cacheprovider", "-q", "--color=no"] +
                    [shlex.quote(a) for a in args])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="vm.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="verb", required=True)
    b = sub.add_parser("build", help="build the cached image")
    b.add_argument("--force", action="store_true", help="rebuild even if cached")
    for name in ("run", "shell"):
        p = sub.add_parser(name)
        p.add_argument("--timeout", type=float, default=900)
        p.add_argument("--src", default=PROJECT, help=f"the project tree to copy in (default {PROJECT})")
        p.add_argument("--permissive", action="store_true", help="boot with enforcing=0")
        p.add_argument("--keep", action="store_true", help="keep the run directory (console log)")
        p.add_argument("--console", action="store_true", help="also print the guest's console")
        p.add_argument("args", nargs=argparse.REMAINDER)
    a = ap.parse_args(argv)
    try:
        if a.verb == "build":
            img = image.build(force=a.force)
            print(img.dir)
            return 0
        why = qemu_missing()
        if why:
            print(f"vm.py: {why}", file=sys.stderr)
            return 2
        args = a.args[1:] if a.args[:1] == ["--"] else a.args
        if a.verb == "run":
            res = run(pytest_command(args or DEFAULT_PYTEST), src=a.src, timeout=a.timeout,
                      enforcing=not a.permissive, keep=a.keep)
        else:
            res = run(" ".join(args), src=None, timeout=a.timeout, enforcing=not a.permissive, keep=a.keep)
    except image.BuildError as e:
        print(f"vm.py: VM image could not be built: {e}", file=sys.stderr)
        return 2
    if a.console:
        sys.stdout.write(res.console)
    sys.stdout.write(res.output)
    return res.status


if __name__ == "__main__":
    sys.exit(main())
