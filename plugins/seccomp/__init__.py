"""Built-in plugin: linux.seccomp, compiled with libseccomp on the host, loaded in the init."""
