"""lamina: an OCI container runtime whose isolation layers are plugins."""

__version__ = "0.1.0"
OCI_VERSION = "1.2.0"


def __getattr__(name: str):
    # plugins write `@lamina.hookimpl`; pluggy is imported only when a plugin asks for it
    if name == "hookimpl":
        from lamina.hookspecs import hookimpl

        return hookimpl
    raise AttributeError(name)
