"""Telling staff: subscriptions, the events they hear about, and their delivery by e-mail and webhook.

Fed by the engine through an outbox it does not know about (each StatusChange row starts "not fanned out"), and by a
periodic look at state (stuck runs, credential problems). Reads core; never writes what WebAdMIT tells us.
"""
