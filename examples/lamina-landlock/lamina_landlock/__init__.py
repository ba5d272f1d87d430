"""lamina-landlock: Landlock filesystem rules for lamina containers (a third-party plugin)."""

__version__ = "0.1.0"
