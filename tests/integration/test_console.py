"""The container's terminal: the --console-socket protocol, /dev/console, consoleSize, and the pty
relay of a foreground `run` (raw host tty, input, output, SIGWINCH, restored afterwards)."""

from __future__ import annotations

import array
import fcntl
import os
import select
import signal
import socket
import struct
import subprocess
import termios
import threading
import time

import pytest
from lamina.testing import wait_for

# the kit's subreaper fixture: container inits are re-parented to the test, and reaped after it
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("subreaper")]

TIOCGPTN = 0x80045430


def terminal_bundle(bundle, args: list[str], size: dict | None = None):
    b = bundle(args)
    b.config["process"]["terminal"] = True
    if size is not None:
        b.config["process"]["consoleSize"] = size
    return b.write()


class ConsoleReceiver:
    """Our own --console-socket listener: records every message, name and fd it is sent."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(4)
        self.srv.settimeout(30)
        self.messages: list[tuple[bytes, list[int]]] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.srv.accept()
            with conn:
                conn.settimeout(30)
                while True:
                    fds = array.array("i")
                    msg, anc, flags, _ = conn.recvmsg(4096, socket.CMSG_SPACE(16 * fds.itemsize))
                    assert not flags & socket.MSG_CTRUNC
                    for level, kind, data in anc:
                        assert (level, kind) == (socket.SOL_SOCKET, socket.SCM_RIGHTS)
                        fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
                    if not msg and not fds:
                        return  # EOF: the runtime closed its end
                    self.messages.append((msg, list(fds)))
        except BaseException as e:  # reported by master()
            self.error = e

    def master(self) -> int:
        self.thread.join(30)
        assert self.error is None, self.error
        assert len(self.messages) == 1, self.messages
        name, fds = self.messages[0]
        assert name, "the message carries no pty name"
        assert len(fds) == 1, fds
        return fds[0]

    def close(self) -> None:
        self.srv.close()
        for _, fds in self.messages:
            for fd in fds:
                try:
                    os.close(fd)
                except OSError:
                    pass


@pytest.fixture
def receiver(tmp_path):
    made = []

    def make() -> ConsoleReceiver:
        r = ConsoleReceiver(str(tmp_path / f"console-{len(made)}.sock"))
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def read_until_eof(fd: int, timeout: float = 15.0) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.1)
        if not r:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: every slave fd is closed
            break
        if not data:
            break
        out += data
    return out


# ---------------------------------------------------------------------------------- --console-socket


def test_console_socket_sends_the_pty_master_once(lamina, bundle, receiver):
    b = terminal_bundle(bundle, ["sh", "-c", "tty; stty size; echo [$TERM]"], {"height": 30, "width": 100})
    r = receiver()
    p = lamina.create(b, "--console-socket", r.path)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "" and p.stderr == ""
    master = r.master()
    # a pty master: TIOCGPTN answers only on the master side
    assert os.isatty(master)
    fcntl.ioctl(master, TIOCGPTN, b"\0" * 4)
    # the size is set on the pty before the process starts
    rows, cols = struct.unpack("HHHH", fcntl.ioctl(master, termios.TIOCGWINSZ, b"\0" * 8))[:2]
    assert (rows, cols) == (30, 100)
    assert lamina.state(b.id)["status"] == "created"
    assert lamina("start", b.id).returncode == 0
    out = read_until_eof(master).decode().replace("\r", "").splitlines()
    assert out == ["/dev/pts/0", "30 100", "[xterm]"], out
    assert wait_for(lambda: lamina.state(b.id)["status"] == "stopped")


def test_console_socket_with_run_detach(lamina, bundle, receiver):
    """Conformance 027: `run -d --console-socket`, stty size inside prints the consoleSize."""
    b = terminal_bundle(bundle, ["stty", "size"], {"height": 30, "width": 100})
    r = receiver()
    p = lamina.run(b, "-d", "--console-socket", r.path)
    assert p.returncode == 0, p.stderr
    assert read_until_eof(r.master()).replace(b"\r", b"") == b"30 100\n"


def test_dev_console_is_the_pty(lamina, bundle, receiver):
    script = ("stat -L -c '%t:%T' /dev/console /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2; "
              "grep ' /dev/console ' /proc/self/mountinfo | cut -d' ' -f9; "
              "echo to-console > /dev/console; "
              "test -t 0 && test -t 1 && test -t 2 && echo all-tty; "
              "cat /proc/self/stat | cut -d' ' -f7")
    b = terminal_bundle(bundle, ["sh", "-c", script])
    r = receiver()
    assert lamina.run(b, "-d", "--console-socket", r.path).returncode == 0
    lines = read_until_eof(r.master()).decode().replace("\r", "").splitlines()
    devs = lines[:4]
    assert len(set(devs)) == 1 and devs[0].startswith("88:"), lines  # 136 = 0x88, unix98 pty slaves
    assert lines[4] == "devpts"
    assert lines[5:7] == ["to-console", "all-tty"]
    assert int(lines[7]) != 0  # tty_nr: the pty is the controlling terminal


def test_console_size_ignored_without_terminal(lamina, bundle):
    b = bundle(["sh", "-c", "test -t 0 || echo no-tty; ls /dev/console 2>/dev/null || echo no-console"])
    b.config["process"]["consoleSize"] = {"height": 30, "width": 100}
    b.write()
    p = lamina.run(b)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["no-tty", "no-console"] or p.stdout.split()[0] == "no-tty"


def test_terminal_create_without_console_socket(lamina, bundle):
    """Conformance 026: fail early, name the console socket, leave nothing."""
    b = terminal_bundle(bundle, ["true"])
    p = lamina.create(b)
    assert p.returncode == 1
    assert "console" in p.stderr and "socket" in p.stderr
    assert lamina("state", b.id).returncode == 1
    assert not os.path.exists(os.path.join(lamina.root, b.id))
    p = lamina.run(b, "--detach")
    assert p.returncode == 1 and "console-socket" in p.stderr


def test_console_socket_without_terminal_is_refused(lamina, bundle, tmp_path):
    b = bundle(["true"])
    p = lamina.create(b, "--console-socket", str(tmp_path / "nobody.sock"))
    assert p.returncode == 1 and "process.terminal is false" in p.stderr
    assert lamina("state", b.id).returncode == 1


def test_console_socket_nobody_listens(lamina, bundle, tmp_path):
    import glob

    b = terminal_bundle(bundle, ["true"])
    p = lamina.create(b, "--console-socket", str(tmp_path / "nobody.sock"))
    assert p.returncode == 1
    assert "--console-socket" in p.stderr and "no such file or directory" in p.stderr.lower(), p.stderr
    assert "Traceback" not in p.stderr
    assert not os.path.exists(os.path.join(lamina.root, b.id))
    assert glob.glob(f"/sys/fs/cgroup/*{b.cgroups_path}") == []


# ---------------------------------------------------------------------------------- foreground pty relay


def _set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class PtyRun:
    """`lamina run` with a real pty as its controlling terminal and stdio.

    The child reports the termios of its terminal before and after lamina ran into ``report``.
    """

    def __init__(self, lamina, b, report: str) -> None:
        import pty

        lamina.ids.add(b.id)
        argv = lamina.argv("run", "--bundle", b.path, b.id)
        env = lamina.env()
        self.master, slave = pty.openpty()
        _set_size(slave, 24, 80)
        self.pid = os.fork()
        if self.pid == 0:
            try:
                os.close(self.master)
                os.setsid()
                fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
                for fd in (0, 1, 2):
                    os.dup2(slave, fd)
                os.close(slave)
                before = termios.tcgetattr(0)
                child = subprocess.Popen(argv, env=env)
                with open(report + ".pid", "w") as f:
                    f.write(str(child.pid))
                code = child.wait()
                after = termios.tcgetattr(0)
                with open(report, "w") as f:
                    f.write(repr((before, after, code)))
            finally:
                os._exit(0)
        os.close(slave)
        self.out = b""

    def read_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.master], [], [], 0.05)
            if r:
                try:
                    data = os.read(self.master, 4096)
                except OSError:
                    return
                if not data:
                    return
                self.out += data

    def read_until(self, text: bytes, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while text not in self.out and time.monotonic() < deadline:
            self.read_for(0.05)
        return text in self.out

    def finish(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                break
            self.read_for(0.05)
        else:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            raise AssertionError(f"lamina run did not finish: {self.out!r}")
        self.read_for(0.2)
        os.close(self.master)


def test_foreground_run_relays_the_pty(lamina, bundle, tmp_path):
    script = ("stty size; tty; echo ready; read x; echo got:$x; "
              "while [ \"$(stty size)\" = '24 80' ]; do sleep 0.05; done; stty size; exit 5")
    b = terminal_bundle(bundle, ["sh", "-c", script])
    report = str(tmp_path / "report")
    run = PtyRun(lamina, b, report)
    assert run.read_until(b"ready"), run.out
    # the host tty is raw while the container runs: no echo, no line editing, no signals from keys
    attrs = termios.tcgetattr(run.master)
    lflag = attrs[3]
    assert not lflag & (termios.ICANON | termios.ECHO | termios.ISIG), hex(lflag)
    assert not attrs[1] & termios.OPOST
    os.write(run.master, b"hello\r")  # what a person types
    assert run.read_until(b"got:hello"), run.out
    # resize: the outer pty changes size and lamina gets SIGWINCH
    _set_size(run.master, 40, 120)
    lamina_pid = int(open(report + ".pid").read())
    os.kill(lamina_pid, signal.SIGWINCH)
    run.finish()
    before, after, code = eval(open(report).read())  # noqa: S307 - our own child's repr
    assert code == 5
    assert after == before  # the host tty is restored afterwards
    lines = run.out.decode().replace("\r", "").splitlines()
    assert lines[:3] == ["24 80", "/dev/pts/0", "ready"], lines
    assert "got:hello" in lines
    assert lines[-1] == "40 120", lines
    # the typed line was echoed once, by the container's pty, not by the (raw) host tty
    assert run.out.count(b"hello") == 2, run.out
    assert not os.path.exists(os.path.join(lamina.root, b.id))


def test_foreground_run_keeps_what_was_typed_ahead(lamina, bundle, tmp_path):
    """A line typed before the container started (before lamina made the tty raw) reaches it, as
    with runc: making the tty raw must not flush its input."""
    b = terminal_bundle(bundle, ["sh", "-c", 'read -t 5 x; echo "got:$x"; exit 3'])
    run = PtyRun(lamina, b, str(tmp_path / "report"))
    os.write(run.master, b"typed-ahead\r")  # lamina is still starting
    run.finish()
    _, _, code = eval(open(str(tmp_path / "report")).read())  # noqa: S307 - our own child's repr
    assert code == 3
    assert b"got:typed-ahead" in run.out, run.out


def test_foreground_run_ctrl_c_reaches_the_container(lamina, bundle, tmp_path):
    """With the host tty raw, ^C is a byte for the container's pty, whose line discipline turns it
    into SIGINT for the container's foreground process."""
    b = terminal_bundle(bundle, ["sh", "-c", "trap 'echo got-int; exit 9' INT; echo ready; "
                                             "while :; do sleep 0.05; done"])
    run = PtyRun(lamina, b, str(tmp_path / "report"))
    assert run.read_until(b"ready"), run.out
    os.write(run.master, b"\x03")
    assert run.read_until(b"got-int"), run.out
    run.finish()
    before, after, code = eval(open(tmp_path / "report").read())  # noqa: S307
    assert code == 9 and after == before


def test_relay_does_not_spin_when_the_container_closes_its_tty(lamina, bundle):
    """With no slave fd open the master reads EIO; lamina must not busy-loop on it."""
    b = terminal_bundle(bundle, ["sh", "-c", "echo before; exec 0<&- 1>&- 2>&-; sleep 2; "
                                             "echo after > /dev/console; sleep 0.5"])
    lamina.ids.add(b.id)
    p = subprocess.Popen(lamina.argv("run", "--bundle", b.path, b.id), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=lamina.env())
    try:
        time.sleep(1.8)
        with open(f"/proc/{p.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu_seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    assert cpu_seconds < 0.8, cpu_seconds  # python start-up and create, not a spinning relay
    # output written after a slave is open again still arrives
    assert out.replace(b"\r", b"").split() == [b"before", b"after"]


def test_foreground_run_terminal_without_a_host_tty(lamina, bundle):
    """stdin a pipe: lamina still relays (input and output), with nothing to make raw."""
    b = terminal_bundle(bundle, ["sh", "-c", "read x; echo got:$x; tty"])
    p = lamina.run(b, input=b"piped\n")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.replace("\r", "").splitlines()
    assert "got:piped" in lines and "/dev/pts/0" in lines
