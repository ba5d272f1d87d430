"""Options shared by several verbs."""

from __future__ import annotations

from lamina.cli.params import Opt

# the flags of `create`, which `run` takes too
CREATE = (
    Opt("--bundle", "-b", help="Path to the bundle (default: current directory)."),
    Opt("--pid-file", help="Write the init's pid here."),
    Opt("--console-socket", help="Unix socket to receive the pty master."),
    Opt("--no-pivot", flag=True, help="Use move-mount and chroot instead of pivot_root."),
    Opt("--no-new-keyring", flag=True, help="Keep the caller's session keyring."),
    Opt("--preserve-fds", default=0, range=(0, 65535),
        help="Pass this many fds beyond stdio (3, 4, ...) to the container."),
)


def make_create_options(bundle, pid_file, console_socket, no_pivot, no_new_keyring, preserve_fds):
    from lamina.context import CreateOptions

    return CreateOptions(console_socket=console_socket, pid_file=pid_file, no_pivot=no_pivot,
                         no_new_keyring=no_new_keyring, preserve_fds=preserve_fds)
