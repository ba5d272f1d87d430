import click


@click.command(help="Send a signal (name or number, default SIGTERM) to the container's init.")
@click.argument("container_id")
@click.argument("signal", default="SIGTERM")
@click.option("--all", "-a", "all_", is_flag=True, help="Signal every process of the container.")
@click.pass_obj
def command(g, container_id, signal, all_):
    from lamina.lifecycle import kill, parse_signal

    kill(g.root, container_id, parse_signal(signal), all_)
    return 0
