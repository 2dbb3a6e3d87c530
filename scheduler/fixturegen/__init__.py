"""Henan-like fixtures: seeded SPEC instances and county-office upload files.

``generate(preset, seed)`` builds a :class:`Fixture` in memory and
``write_fixture(fixture, outdir)`` writes it; ``natsched fixtures generate``
does both. See ``docs/uploads.md`` for the upload files and
``scheduler/fixturegen/generator.py`` for the lab-kind mapping.
"""

from __future__ import annotations

from scheduler.fixturegen.generator import (
    Fixture,
    Pressure,
    generate,
    lab_kind_counts,
    nominal_capacity,
    pressure,
    summary,
    write_fixture,
)
from scheduler.fixturegen.presets import PRESETS, Preset, preset

__all__ = [
    "PRESETS",
    "Fixture",
    "Preset",
    "Pressure",
    "generate",
    "lab_kind_counts",
    "nominal_capacity",
    "preset",
    "pressure",
    "summary",
    "write_fixture",
]
