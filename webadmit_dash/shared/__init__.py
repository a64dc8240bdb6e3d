"""What every feature app's pages share, below them all: the signed-in request and sign-in for htmx (`http`), the
admin base classes (`admin_base`), and the display formatters and template tags (`templatetags.display`).

Low on purpose: the pages (`web`), notifications and the feature apps to come sit beside one another on top of it,
so none of them imports another for a helper. It knows Django and the client's status words, nothing of the engine.
"""
