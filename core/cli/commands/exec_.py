from lamina.cli.params import Arg, Opt

HELP = "Run a new process in a running container; flags after the id belong to the command."
INTERSPERSED = False  # what follows the id is the command's
PARAMS = (
    Arg("container_id"),
    Arg("command", rest=True),
    Opt("--process", "-p", dest="process_file", help="A runtime-spec Process JSON file."),
    Opt("--tty", "-t", flag=True, help="Allocate a pty for the process."),
    Opt("--console-socket", help="Unix socket to receive the pty master."),
    Opt("--detach", "-d", flag=True, help="Return once the process has started."),
    Opt("--pid-file", help="Write the process's pid here."),
    Opt("--env", "-e", multiple=True, help="KEY=VALUE added to the environment (repeatable)."),
    Opt("--cwd", help="Working directory inside the container."),
    Opt("--user", "-u", help="uid[:gid] to run as."),
    Opt("--additional-gids", "-g", multiple=True, kind=int, help="A supplementary gid (repeatable)."),
    Opt("--cap", "-c", multiple=True, help="Add a capability (repeatable)."),
    Opt("--no-new-privs", flag=True, help="Set no_new_privs for the process."),
    Opt("--preserve-fds", default=0, range=(0, 65535),
        help="Pass this many fds beyond stdio (3, 4, ...) to the process."),
    Opt("--process-label", help="SELinux label of the process."),
    Opt("--apparmor", help="AppArmor profile of the process."),
    Opt("--ignore-paused", flag=True, help="Exec even if the container is paused."),
)


def main(g, container_id, command, process_file, tty, console_socket, detach, pid_file, env, cwd, user,
         additional_gids, cap, no_new_privs, preserve_fds, process_label, apparmor, ignore_paused):
    from lamina.context import CreateOptions
    from lamina.errors import LaminaError
    from lamina.exec_ import EXIT_EXEC_FAILED, execute, load_process_file

    opts = CreateOptions(console_socket=console_socket, pid_file=pid_file, preserve_fds=preserve_fds)
    try:
        process = load_process_file(process_file) if process_file else None
    except LaminaError as e:
        e.exit_code = EXIT_EXEC_FAILED
        raise
    return execute(g.root, container_id, process, list(command), opts, detach, ignore_paused,
                   tty=tty, env=list(env), cwd=cwd, user=user, additional_gids=list(additional_gids),
                   caps=list(cap), no_new_privs=no_new_privs, process_label=process_label, apparmor=apparmor)
