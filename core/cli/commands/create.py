from lamina.cli.options import CREATE, make_create_options
from lamina.cli.params import Arg

HELP = "Create a container from a bundle; its init waits for `start`."
PARAMS = (Arg("container_id"), *CREATE)


def main(g, container_id, bundle, pid_file, console_socket, no_pivot, no_new_keyring, preserve_fds):
    g.no_systemd(bundle)
    opts = make_create_options(bundle, pid_file, console_socket, no_pivot, no_new_keyring, preserve_fds)
    from lamina import cgroupwarm

    cgroupwarm.start()  # before the imports: this process is smallest now (lamina.cgroupwarm)
    from lamina.create import Creation

    Creation(g.root, container_id, bundle, opts).run()
    return 0
