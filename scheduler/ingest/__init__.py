"""County uploads: read, check every cell, store (see docs/uploads.md)."""

from scheduler.ingest.reader import CellError, UnreadableFile, read_table
from scheduler.ingest.upload import IngestSettings, UploadReport, upload

__all__ = ["CellError", "IngestSettings", "UnreadableFile", "UploadReport", "read_table", "upload"]
