"""Where delivered files go: one module per protocol (`folder`, `sftp`, `s3`), each knowing nothing of Django's
models. `base` holds what they share: the payload handed over, the receipt returned and the two kinds of failure."""
