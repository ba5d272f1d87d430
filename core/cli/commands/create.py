import click
from lamina.cli.options import create_options, make_create_options


@click.command(help="Create a container from a bundle; its init waits for `start`.")
@click.argument("container_id")
@create_options
@click.pass_obj
def command(g, container_id, bundle, pid_file, console_socket, no_pivot, no_new_keyring, preserve_fds):
    from lamina.create import Creation

    g.no_systemd(bundle)
    opts = make_create_options(bundle, pid_file, console_socket, no_pivot, no_new_keyring, preserve_fds)
    Creation(g.root, container_id, bundle, opts).run()
    return 0
