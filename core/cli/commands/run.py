import click
from lamina.cli.options import create_options, make_create_options


@click.command(help="Create and start a container; in the foreground, wait for it and return its exit code.")
@click.argument("container_id")
@create_options
@click.option("--detach", "-d", is_flag=True, help="Return once the container has started.")
@click.option("--keep", is_flag=True, help="Do not delete the container after it exits.")
@click.pass_obj
def command(g, container_id, bundle, pid_file, console_socket, no_pivot, no_new_keyring, preserve_fds,
            detach, keep):
    from lamina.run import run

    g.no_systemd(bundle)
    opts = make_create_options(bundle, pid_file, console_socket, no_pivot, no_new_keyring, preserve_fds)
    return run(g.root, container_id, bundle, opts, detach, keep)
