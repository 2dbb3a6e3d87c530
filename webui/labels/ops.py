"""Labels of the ops pages."""

LABELS: dict[str, tuple[str, str]] = {}
