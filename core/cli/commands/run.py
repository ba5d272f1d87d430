from lamina.cli.options import CREATE, make_create_options
from lamina.cli.params import Arg, Opt

HELP = "Create and start a container; in the foreground, wait for it and return its exit code."
PARAMS = (
    Arg("container_id"),
    *CREATE,
    Opt("--detach", "-d", flag=True, help="Return once the container has started."),
    Opt("--keep", flag=True, help="Do not delete the container after it exits."),
)


def main(g, container_id, bundle, pid_file, console_socket, no_pivot, no_new_keyring, preserve_fds,
         detach, keep):
    g.no_systemd(bundle)
    opts = make_create_options(bundle, pid_file, console_socket, no_pivot, no_new_keyring, preserve_fds)
    from lamina import cgroupwarm

    cgroupwarm.start()  # before the imports: this process is smallest now (lamina.cgroupwarm)
    from lamina.run import run

    return run(g.root, container_id, bundle, opts, detach, keep)
