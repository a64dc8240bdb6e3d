"""`python -m webadmit_dash.simulator`: serve the offline WebAdMIT until Ctrl-C (local use only).

The same options as `manage.py simulate_webadmit`, without Django.
"""

import argparse

from .server import add_arguments, run

if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="python -m webadmit_dash.simulator", description="Serve an offline WebAdMIT API v1 (local use only)."
    )
    add_arguments(parser)
    run(vars(parser.parse_args()))
