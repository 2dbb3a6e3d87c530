"""Labels of the bench pages."""

LABELS: dict[str, tuple[str, str]] = {}
