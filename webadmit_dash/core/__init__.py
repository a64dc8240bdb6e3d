"""What webadmit-dash knows, shared by both sides: the models (credentials, identities, exports, files, their
history, grants, audit), who may see what (`access`), the error vocabulary in words (`problems`), the status sets
(`statuses`), and the encryption of API keys at rest.

The engine writes what WebAdMIT tells us into these models; the web pages read them. Nothing here calls WebAdMIT
or renders a page.
"""
