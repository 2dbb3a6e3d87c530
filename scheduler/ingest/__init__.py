"""County uploads: read, check every cell (``reader``), store (``upload``); docs/uploads.md.

The package itself loads only the format and the reader, so that the fixture
generator, which writes files in the format, needs no database; storing an
upload is :func:`scheduler.ingest.upload.upload`.
"""

from scheduler.ingest.reader import CellError, UnreadableFile, read_table

__all__ = ["CellError", "UnreadableFile", "read_table"]
