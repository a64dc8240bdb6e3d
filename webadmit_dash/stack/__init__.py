"""The whole product on one machine, for `make run`: `manage.py runstack` starts the simulator (with demo data),
the web server and a Celery worker with beat, and stops them together."""
