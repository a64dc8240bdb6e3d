"""The engine: the only writer of what WebAdMIT tells us.

`schedule` decides when each identity is due (cadence, backoff, the rate budget); `tasks` are the Celery entry
points beat and the worker run; `refresh` makes one identity's calls and hands the listing to `apply`, which writes
only what changed; `credentials` writes a key's health and budget; `on_demand` and `downloads` are the doors for what
people ask (Refresh now, Run again, a download link). It reads and writes the models of `core` and calls WebAdMIT
through `webadmit`; it knows nothing of pages.
"""
