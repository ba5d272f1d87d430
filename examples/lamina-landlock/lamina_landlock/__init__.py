"""lamina-landlock: Landlock filesystem rules for lamina containers (a third-party plugin)."""

__version__ = "0.1.0"
# the annotations' prefix; here so that the plugin can tell a config that asks for nothing
# without importing its rules
PREFIX = "org.lamina.landlock."
