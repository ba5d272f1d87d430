"""Building the test VM's image, once: a Debian 12 guest with SELinux enforcing and cgroup v2.

Everything comes from Debian packages and PyPI wheels, fetched on the host (the guest has no
network): debootstrap of bookworm with Debian's refpolicy plus the refpolicy ``container``
module (built inside the chroot from selinux-policy-src against selinux-policy-dev), a venv with
the project's Python dependencies installed from a wheelhouse, the kernel of
``linux-image-amd64`` unpacked with ``dpkg -x`` (never installed on the host) and decompressed to
the ELF ``vmlinux`` that qemu boots directly (PVH entry: no firmware, no decompression, ~5 s
faster under software emulation), a tiny busybox initramfs with the few modules needed to mount
the root disk and the 9p shares, and the rootfs labelled with ``setfiles`` on the host (a
relabel inside the emulated guest would take minutes).

The result is cached under ``/var/tmp/lamina-vm/<key>/``; the key is a hash of this file and of
``guest/``, so changing the recipe rebuilds and anything else reuses the image. Builders take a
lock; runs boot the image with ``snapshot=on`` and never change it, so they may run in parallel.
"""

from __future__ import annotations

import fcntl
import hashlib
import lzma
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
GUEST = os.path.join(HERE, "guest")
CACHE = os.environ.get("LAMINA_VM_CACHE", "/var/tmp/lamina-vm")
SUITE = "bookworm"
# the guest's Debian packages (debootstrap --variant=minbase adds the essential set)
PACKAGES = [
    "selinux-policy-default", "selinux-utils", "policycoreutils", "selinux-policy-src",
    "selinux-policy-dev", "make", "zstd", "python3", "python3-selinux", "python3-seccomp",
    "python3-venv", "python3-setuptools", "busybox-static", "procps", "mount", "util-linux",
]
# wheels for the guest's venv (the project's dependencies and the test runner)
WHEELS = ["click>=8.1", "pluggy>=1.3", "stevedore>=5.0", "pbr", "pytest>=7.4", "setuptools>=66", "wheel"]
# modules the initramfs loads, with their dependencies (the kernel has the rest built in)
MODULES = ["virtio_pci", "virtio_blk", "ext4", "crc32c_generic", "9p", "9pnet_virtio", "overlay"]
# host tools the build needs, and the Debian packages that provide them
HOST_TOOLS = {"debootstrap": "debootstrap", "mke2fs": "e2fsprogs", "setfiles": "policycoreutils",
              "modprobe": "kmod", "depmod": "kmod", "cpio": "cpio", "dpkg": "dpkg", "apt-get": "apt",
              "unshare": "util-linux", "chroot": "coreutils"}
VENV = "/opt/lamina/venv"  # inside the guest


class BuildError(Exception):
    """The image cannot be built here; the message says why in one line."""


@dataclass
class Image:
    dir: str

    @property
    def kernel(self) -> str:
        return os.path.join(self.dir, "vmlinux")

    @property
    def initrd(self) -> str:
        return os.path.join(self.dir, "initrd.img")

    @property
    def rootfs(self) -> str:
        return os.path.join(self.dir, "rootfs.img")

    def ready(self) -> bool:
        return os.path.exists(os.path.join(self.dir, ".complete"))


def key() -> str:
    """Hash of the build inputs: this recipe and the guest files baked into the image."""
    h = hashlib.sha256()
    files = [os.path.abspath(__file__)] + sorted(
        os.path.join(GUEST, f) for f in os.listdir(GUEST) if not f.startswith("."))
    for path in files:
        h.update(os.path.basename(path).encode() + b"\0")
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


def image() -> Image:
    return Image(os.path.join(CACHE, key()))


def log(msg: str) -> None:
    print(f"[lamina-vm] {msg}", file=sys.stderr, flush=True)


def _run(argv: list[str], what: str, logfile: str | None = None, **kw) -> subprocess.CompletedProcess:
    out = open(logfile, "ab") if logfile else subprocess.PIPE  # noqa: SIM115
    try:
        p = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kw)
    finally:
        if logfile:
            out.close()
    if p.returncode != 0:
        if logfile:
            with open(logfile, "rb") as f:
                tail = f.read()[-3000:].decode(errors="replace")
        else:
            tail = (p.stdout or b"")[-3000:].decode(errors="replace")
        last = [ln for ln in tail.splitlines() if ln.strip()][-1:] or ["(no output)"]
        log(f"{what} failed (exit {p.returncode}); last output:\n{tail}")
        raise BuildError(f"{what} failed (exit {p.returncode}): {last[0].strip()}")
    return p


def check_host() -> None:
    if os.geteuid() != 0:
        raise BuildError("building the VM image needs root (debootstrap, chroot, setfiles)")
    missing = sorted({pkg for tool, pkg in HOST_TOOLS.items() if not shutil.which(tool)})
    if missing:
        raise BuildError(f"host packages missing: {' '.join(missing)} (make apt installs them)")


def debian_mirror() -> str:
    """The first Debian archive apt is configured with on this host (deb822 or one-line)."""
    import glob

    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        with open(path) as f:
            for line in f:
                if line.startswith("URIs:"):
                    for uri in line.split()[1:]:
                        if uri.rstrip("/").endswith("/debian"):
                            return uri
    for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
        try:
            with open(path) as f:
                for line in f:
                    parts = line.split()
                    if parts[:1] == ["deb"]:
                        for p in parts[1:]:
                            if p.startswith("http") and p.rstrip("/").endswith("/debian"):
                                return p
        except OSError:
            continue
    raise BuildError("no Debian mirror found in /etc/apt/sources.list*")


# ------------------------------------------------------------------ the kernel


def extract_vmlinux(vmlinuz: str, out: str) -> None:
    """The uncompressed ELF kernel inside a bzImage (Debian compresses it with xz)."""
    with open(vmlinuz, "rb") as f:
        data = f.read()
    pos = data.find(b"\xfd7zXZ\x00")
    while pos != -1:
        try:
            elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[pos:])
        except lzma.LZMAError:
            elf = b""
        if elf[:4] == b"\x7fELF":
            with open(out, "wb") as f:
                f.write(elf)
            return
        pos = data.find(b"\xfd7zXZ\x00", pos + 1)
    raise BuildError(f"no xz-compressed ELF kernel found in {vmlinuz}")


def build_kernel(work: str, out: str) -> None:
    deps = _run(["apt-cache", "depends", "linux-image-amd64"], "apt-cache depends linux-image-amd64").stdout
    names = [ln.split()[-1] for ln in deps.decode().splitlines()
             if ln.strip().startswith("Depends: linux-image-") and ln.split()[-1][12:13].isdigit()]
    if not names:
        raise BuildError("cannot resolve linux-image-amd64 to a kernel package (apt-get update?)")
    debs = os.path.join(work, "debs")
    os.makedirs(debs, exist_ok=True)
    log(f"downloading {names[0]}")
    _run(["apt-get", "download", names[0]], f"apt-get download {names[0]}", cwd=debs)
    pkg = os.path.join(work, "kernel")
    deb = [f for f in os.listdir(debs) if f.endswith(".deb")][0]
    _run(["dpkg", "-x", os.path.join(debs, deb), pkg], "dpkg -x kernel")
    kv = os.listdir(os.path.join(pkg, "lib", "modules"))[0]
    _run(["depmod", "-b", pkg, kv], "depmod")
    extract_vmlinux(os.path.join(pkg, "boot", f"vmlinuz-{kv}"), os.path.join(out, "vmlinux"))
    mods = os.path.join(out, "modules")
    os.makedirs(mods, exist_ok=True)
    order: list[str] = []
    for m in MODULES:
        dep = _run(["modprobe", "-d", pkg, "-S", kv, "--show-depends", m], f"modprobe --show-depends {m}")
        for ln in dep.stdout.decode().splitlines():
            parts = ln.split()
            if parts[:1] == ["insmod"] and os.path.basename(parts[1]) not in order:
                shutil.copy(parts[1], mods)
                order.append(os.path.basename(parts[1]))
    with open(os.path.join(mods, "order"), "w") as f:
        f.write("\n".join(order) + "\n")
    with open(os.path.join(out, "kernel-version"), "w") as f:
        f.write(kv + "\n")


# ------------------------------------------------------------------ the root filesystem


def _in_private_mounts(script: str, what: str, logfile: str) -> None:
    """Run a shell script in a private mount namespace: whatever it mounts (debootstrap's
    /proc, the chroot's /dev) vanishes with it, even when it fails halfway."""
    _run(["unshare", "--mount", "--propagation", "private", "sh", "-ec", script], what, logfile=logfile)


def build_rootfs(root: str, work: str, logfile: str) -> None:
    mirror = debian_mirror()
    log(f"debootstrap {SUITE} from {mirror} (a few minutes)")
    t = time.monotonic()
    _in_private_mounts(
        f"debootstrap --variant=minbase --include={','.join(PACKAGES)} {SUITE} {root} {mirror}",
        "debootstrap", logfile)
    log(f"debootstrap took {time.monotonic() - t:.0f}s")
    wheels = os.path.join(root, "opt", "lamina", "wheels")
    os.makedirs(wheels, exist_ok=True)
    log("downloading wheels for the guest venv: " + " ".join(WHEELS))
    _run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "-d", wheels, *WHEELS],
         "pip download (wheelhouse)", logfile=logfile)
    shutil.copy(os.path.join(GUEST, "setup-chroot.sh"), os.path.join(root, "root", "setup-chroot.sh"))
    log("in the chroot: refpolicy container module, venv from the wheelhouse")
    _in_private_mounts(
        f"mount -t proc proc {root}/proc; mount -t tmpfs tmpfs {root}/tmp; "
        f"mount --rbind /dev {root}/dev; chroot {root} /bin/sh -e /root/setup-chroot.sh {VENV}",
        "chroot setup (container module, venv)", logfile)
    os.unlink(os.path.join(root, "root", "setup-chroot.sh"))
    for d in ("mnt/src", "mnt/ctl", "src"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    for name, dest in (("init.sh", "usr/sbin/init"),):
        shutil.copy(os.path.join(GUEST, name), os.path.join(root, dest))
        os.chmod(os.path.join(root, dest), 0o755)
    with open(os.path.join(root, "etc", "hostname"), "w") as f:
        f.write("lamina-vm\n")
    for d in ("var/cache/apt/archives", "var/lib/apt/lists"):
        p = os.path.join(root, d)
        for f in os.listdir(p):
            if f.endswith(".deb") or f.endswith("_Packages"):
                os.unlink(os.path.join(p, f))


def label_and_pack(root: str, out: str, logfile: str) -> None:
    t = time.monotonic()
    fc = os.path.join(root, "etc/selinux/default/contexts/files/file_contexts")
    _run(["setfiles", "-r", root, fc, root], "setfiles (label the rootfs)", logfile=logfile)
    du = _run(["du", "-sm", root], "du").stdout.split()[0]
    size = int(du) * 13 // 10 + 768
    _run(["mke2fs", "-q", "-t", "ext4", "-L", "lamina-vm", "-d", root, os.path.join(out, "rootfs.img"),
          f"{size}M"], "mke2fs -d (the root disk)", logfile=logfile)
    log(f"labelled and packed the rootfs ({size} MiB) in {time.monotonic() - t:.0f}s")


def build_initramfs(root: str, out: str) -> None:
    ird = os.path.join(out, "initramfs")
    for d in ("bin", "proc", "sys", "dev", "newroot"):
        os.makedirs(os.path.join(ird, d), exist_ok=True)
    shutil.copy(os.path.join(root, "bin", "busybox"), os.path.join(ird, "bin", "busybox"))
    shutil.copytree(os.path.join(out, "modules"), os.path.join(ird, "mod"))
    shutil.copy(os.path.join(GUEST, "initramfs-init.sh"), os.path.join(ird, "init"))
    os.chmod(os.path.join(ird, "init"), 0o755)
    files = subprocess.run(["find", "."], cwd=ird, capture_output=True, check=True).stdout
    cpio = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], cwd=ird, input=files,
                          capture_output=True, check=True).stdout
    import gzip

    with open(os.path.join(out, "initrd.img"), "wb") as f:
        f.write(gzip.compress(cpio, compresslevel=1))
    shutil.rmtree(ird)
    shutil.rmtree(os.path.join(out, "modules"))


def build(force: bool = False) -> Image:
    """The cached image for the current recipe, built if missing (raises BuildError)."""
    img = image()
    if img.ready() and not force:
        return img
    check_host()
    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder at a time; the others wait and reuse
        if img.ready() and not force:
            return img
        t0 = time.monotonic()
        tmp = f"{img.dir}.build"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        logfile = os.path.join(tmp, "build.log")
        work = os.path.join(tmp, "work")
        root = os.path.join(work, "root")
        os.makedirs(root)
        try:
            build_kernel(work, tmp)
            build_rootfs(root, work, logfile)
            label_and_pack(root, tmp, logfile)
            build_initramfs(root, tmp)
        except BuildError:
            raise
        except (OSError, subprocess.CalledProcessError) as e:
            raise BuildError(f"{type(e).__name__}: {e}") from None
        finally:
            shutil.rmtree(work, ignore_errors=True)
        open(os.path.join(tmp, ".complete"), "w").close()
        shutil.rmtree(img.dir, ignore_errors=True)
        os.rename(tmp, img.dir)
        # images of older recipes are dead weight (a few hundred MiB each)
        for d in os.listdir(CACHE):
            p = os.path.join(CACHE, d)
            if d != os.path.basename(img.dir) and os.path.isdir(p) and not d.startswith("run-"):
                shutil.rmtree(p, ignore_errors=True)
        log(f"image {img.dir} built in {time.monotonic() - t0:.0f}s")
    return img
