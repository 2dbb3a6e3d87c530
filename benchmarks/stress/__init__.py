"""Load and fault runs against a real ``natsched serve`` process (issue #9).

The harness is the tests' (``tests.support``: ``server`` seeds a database and
runs the web process, ``locust_run`` drives county uploads and coordinator page
views at it, ``faults`` kills processes and holds locks at bad moments);
``python -m benchmarks.stress`` runs it long and writes the report.
"""
