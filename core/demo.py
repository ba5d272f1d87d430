"""`make demo`: build a busybox bundle and run it with `lamina run`, showing the isolation.

The container prints its own hostname, that its shell is PID 1, and the process list it can
see (only its own); the host's hostname and process count are printed beside for contrast.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys

SCRIPT = """\
echo "inside:  hostname=$(hostname)  my pid=$$"
echo "processes I can see:"
ps -o pid,user,args
grep -E '^(CapEff|NoNewPrivs)' /proc/self/status
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lamina", default=os.path.join(os.path.dirname(sys.executable), "lamina"))
    ap.add_argument("--bundles", default="/var/tmp/lamina-bundles")
    a = ap.parse_args(argv)
    from lamina import testing

    os.makedirs(a.bundles, exist_ok=True)
    cid = f"demo-{os.getpid()}"
    cfg = testing.base_config(["/bin/sh", "/demo.sh"])
    cfg["hostname"] = "lamina-demo"
    cfg["linux"]["cgroupsPath"] = f"/lamina-demo/{cid}"
    b = testing.make_bundle(a.bundles, config=cfg, cid=cid)
    with open(os.path.join(b.rootfs, "demo.sh"), "w") as f:
        f.write(SCRIPT)
    nproc = len([p for p in os.listdir("/proc") if p.isdigit()])
    print(f"host:    hostname={socket.gethostname()}  processes visible: {nproc}")
    print(f"bundle:  {b.path}  (config.json + rootfs/ from busybox-static)")
    print(f"$ {a.lamina} run --bundle {b.path} {cid}\n")
    sys.stdout.flush()
    try:
        rc = subprocess.call([a.lamina, "run", "--bundle", b.path, cid])
    finally:
        b.remove()
        for d in ("/sys/fs/cgroup/unified/lamina-demo", *(f"/sys/fs/cgroup/{c}/lamina-demo"
                  for c in os.listdir("/sys/fs/cgroup"))):
            try:
                os.rmdir(d)
            except OSError:
                pass
    print(f"\nlamina run exited {rc}; the container was deleted")
    return rc


if __name__ == "__main__":
    sys.exit(main())
