"""What collection tells the rest of the product as it happens (ops counts these for /metrics)."""

from django.dispatch import Signal

# sender: CollectedFile; kwargs: size (bytes kept).
file_collected = Signal()
# sender: FileDelivery; kwargs: destination (its name), outcome ("delivered", "retrying", "failed").
delivery_attempted = Signal()
