import click


@click.command(help="List the plugins: name, version, hooks, claims, and whether they are enabled.")
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_obj
def command(g, fmt):
    from lamina.plugininfo import describe_plugins

    rows = describe_plugins()
    if fmt == "json":
        import json

        click.echo(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        state = "enabled" if r["enabled"] else "disabled"
        click.echo(f"{r['name']} {r['version']} ({r['distribution']}, {state})")
        click.echo(f"  claims: {', '.join(r['claims']) or '-'}")
        click.echo(f"  hooks:  {', '.join(r['hooks']) or '-'}")
    return 0
