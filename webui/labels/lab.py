"""Labels of the lab pages."""

LABELS: dict[str, tuple[str, str]] = {}
