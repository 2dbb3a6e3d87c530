"""What the tests share beyond one module; no test module imports another or a conftest.

Problems built by hand (``builders``), the what-if world (``whatif``), the bad-upload
corpus (``badfiles``) and sending uploads (``uploads``), the databases (``db``: its
fixtures are registered for every folder by tests/conftest.py), the web app's demo
world and logins (``web``, ``api``, ``browser``), a second plan version on it
(``replans``), waiting with a limit (``waiting``),
the fuzz strategies (``strategies``); a real ``natsched serve`` process and its world
(``server``), faults at bad moments (``faults``) and a headless Locust run
(``locust_run``, ``locustfile``).

Benchmarks use these too (``python -m benchmarks.stress``); the arrow points from
``benchmarks`` to ``tests.support``, never back.
"""
