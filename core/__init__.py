"""lamina: an OCI container runtime whose isolation layers are plugins."""

__version__ = "0.1.0"
OCI_VERSION = "1.2.0"


def longlived() -> None:
    """Called by verbs that go on running (supervising a container, streaming events): the
    launcher starts with the cyclic garbage collector off, which suits only short commands."""
    import gc

    gc.enable()


def __getattr__(name: str):
    # plugins write `@lamina.hookimpl`; pluggy is imported only when a plugin asks for it
    if name == "hookimpl":
        from lamina.hookspecs import hookimpl

        return hookimpl
    raise AttributeError(name)
