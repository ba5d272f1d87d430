import click


@click.command(help="Print the container's resource counters (and OOM kills) as JSON lines.")
@click.argument("container_id")
@click.option("--stats", "stats_only", is_flag=True, help="Print the counters once and exit.")
@click.option("--interval", default="5s", show_default=True, help="Time between two stats lines.")
@click.pass_obj
def command(g, container_id, stats_only, interval):
    from lamina.events import events, parse_duration

    events(g.root, container_id, stats_only, parse_duration(interval))
    return 0
