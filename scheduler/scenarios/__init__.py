"""Drills and what-if: scenarios (a base plus readable changes), solved side by side.

``changes``: the line grammar and :func:`~scheduler.scenarios.changes.apply`;
``run``: solve a base and its scenarios in parallel and take their figures;
``relax``: the flow relaxation behind "k labs cannot do it";
``recommend``: the smallest number of mobile labs, verified and proven;
``sweep``: demand factors against late tubes, and each lab's marginal value.

A library: nothing here imports Flask or SQLAlchemy at module level.
"""
