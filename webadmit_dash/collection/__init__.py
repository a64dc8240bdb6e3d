"""Collect and deliver: each finished file a rule chooses is fetched from WebAdMIT once, kept encrypted in the archive,
and delivered to the destinations its delivery rules name, once each, with proof (size, SHA-256, the trail).

`envelope` encrypts a stream in authenticated chunks under a data key of its own, wrapped by ENCRYPTION_KEYS;
`archive` keeps those streams in the `archive` storage; `destinations` are the places files go (a folder, SFTP,
S3), each knowing only its protocol.
"""
