from lamina.cli.params import Opt

HELP = "List the plugins: name, version, hooks, claims, and whether they are enabled."
PARAMS = (
    Opt("--format", "-f", dest="fmt", choices=("table", "json"), default="table", help="Output format."),
)


def main(g, fmt):
    from lamina.plugininfo import describe_plugins

    rows = describe_plugins()
    if fmt == "json":
        import json

        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        state = "enabled" if r["enabled"] else "disabled"
        print(f"{r['name']} {r['version']} ({r['distribution']}, {state})")
        print(f"  claims: {', '.join(r['claims']) or '-'}")
        print(f"  hooks:  {', '.join(r['hooks']) or '-'}")
    return 0
