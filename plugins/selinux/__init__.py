"""Built-in plugin: SELinux labels (process.selinuxLabel, linux.mountLabel, the session keyring)."""
