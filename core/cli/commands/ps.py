import click


@click.command(help="List the container's processes: the host's `ps` rows for them (PS_ARGS after the id, "
                    "default -ef), or their pids as JSON.",
               context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.argument("container_id")
@click.argument("ps_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def command(g, fmt, container_id, ps_args):
    from lamina.ps import container_pids, table

    pids = container_pids(g.root, container_id)
    if fmt == "json":
        import json

        click.echo(json.dumps(pids))
        return 0
    args = list(ps_args)
    if args[:1] == ["--"]:
        args = args[1:]
    text = table(pids, args)
    if text:
        click.echo(text)
    return 0
