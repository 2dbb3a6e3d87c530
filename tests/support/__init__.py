"""What the tests share beyond one folder: a real ``natsched serve`` process and its world
(``server``), faults at bad moments (``faults``) and a headless Locust run (``locust_run``,
``locustfile``).

Benchmarks use these too (``python -m benchmarks.stress``); the arrow points from
``benchmarks`` to ``tests.support``, never back.
"""
