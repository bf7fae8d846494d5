"""The ``imagenet-e`` command line: one entry point, subcommands contributed by each package."""

__version__ = "0.1.0"
