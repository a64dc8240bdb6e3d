"""What staff see: pages, htmx fragments, the admin, forms and template tags.

Reads what the engine wrote (through `core`) and never writes what WebAdMIT told us: for a refresh, a download link
or a new run it asks the engine (`engine.on_demand`, `engine.downloads`, `engine.credentials` for the admin's
Test connection and Import identities).
"""
