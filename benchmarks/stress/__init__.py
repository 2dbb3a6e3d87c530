"""Load and fault tests against a real ``natsched serve`` process (issue #9).

``server`` seeds a database and runs the web process, ``load`` drives county
uploads and coordinator page views at it, ``faults`` kills processes and
holds locks at bad moments; ``python -m benchmarks.stress`` writes the report.
"""
