"""Campus sign-in: a trusted reverse proxy's user header, OpenID Connect, and the groups either one says a person
is in. Knows Django's users and groups and nothing of the product: grants to groups do the rest."""
