from lamina.cli.params import Opt

HELP = "Write a default config.json (runc's shape) into the bundle."
PARAMS = (
    Opt("--bundle", "-b", help="Bundle directory (default: current directory)."),
    Opt("--rootless", flag=True, help="A config for an unprivileged user (user namespace)."),
)


def main(g, bundle, rootless):
    from lamina.defaultspec import write_spec

    write_spec(bundle or ".", rootless)
    return 0
