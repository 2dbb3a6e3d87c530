"""Labels of the county pages."""

LABELS: dict[str, tuple[str, str]] = {}
