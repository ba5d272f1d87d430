import click


@click.command(help="Write a default config.json (runc's shape) into the bundle.")
@click.option("--bundle", "-b", default=None, help="Bundle directory (default: current directory).")
@click.option("--rootless", is_flag=True, help="A config for an unprivileged user (user namespace).")
@click.pass_obj
def command(g, bundle, rootless):
    from lamina.defaultspec import write_spec

    write_spec(bundle or ".", rootless)
    return 0
