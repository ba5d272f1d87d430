"""Options shared by several verbs."""

from __future__ import annotations

import click


def create_options(f):
    """The flags of `create`, which `run` takes too."""
    for decorator in reversed([
        click.option("--bundle", "-b", default=None, help="Path to the bundle (default: current directory)."),
        click.option("--pid-file", default=None, help="Write the init's pid here."),
        click.option("--console-socket", default=None, help="Unix socket to receive the pty master."),
        click.option("--no-pivot", is_flag=True, help="Use move-mount and chroot instead of pivot_root."),
        click.option("--no-new-keyring", is_flag=True, help="Keep the caller's session keyring."),
        click.option("--preserve-fds", default=0, type=click.IntRange(0, 65535),
                     help="Pass this many fds beyond stdio (3, 4, ...) to the container."),
    ]):
        f = decorator(f)
    return f


def make_create_options(bundle, pid_file, console_socket, no_pivot, no_new_keyring, preserve_fds):
    from lamina.context import CreateOptions

    return CreateOptions(console_socket=console_socket, pid_file=pid_file, no_pivot=no_pivot,
                         no_new_keyring=no_new_keyring, preserve_fds=preserve_fds)
