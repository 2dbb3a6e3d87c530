"""The ``natsched`` command line: the library's, the services' and the web app's commands.

This package sits on top of every other: it imports ``scheduler`` and
``webui``, and nothing imports it (``make lint`` checks the direction).
"""

from scheduler import __version__

__all__ = ["__version__"]
