import click


@click.command(help="Run a new process in a running container; flags after the id belong to the command.",
               context_settings={"allow_interspersed_args": False})
@click.argument("container_id")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.option("--process", "-p", "process_file", default=None, help="A runtime-spec Process JSON file.")
@click.option("--tty", "-t", is_flag=True, help="Allocate a pty for the process.")
@click.option("--console-socket", default=None, help="Unix socket to receive the pty master.")
@click.option("--detach", "-d", is_flag=True, help="Return once the process has started.")
@click.option("--pid-file", default=None, help="Write the process's pid here.")
@click.option("--env", "-e", multiple=True, help="KEY=VALUE added to the environment (repeatable).")
@click.option("--cwd", default=None, help="Working directory inside the container.")
@click.option("--user", "-u", default=None, help="uid[:gid] to run as.")
@click.option("--additional-gids", "-g", multiple=True, type=int, help="A supplementary gid (repeatable).")
@click.option("--cap", "-c", multiple=True, help="Add a capability (repeatable).")
@click.option("--no-new-privs", is_flag=True, help="Set no_new_privs for the process.")
@click.option("--preserve-fds", default=0, type=click.IntRange(0, 65535),
              help="Pass this many fds beyond stdio (3, 4, ...) to the process.")
@click.option("--process-label", default=None, help="SELinux label of the process.")
@click.option("--apparmor", default=None, help="AppArmor profile of the process.")
@click.option("--ignore-paused", is_flag=True, help="Exec even if the container is paused.")
@click.pass_obj
def command(g, container_id, command, process_file, tty, console_socket, detach, pid_file, env, cwd, user,
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
