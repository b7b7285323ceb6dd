"""mixflow: the cloud brain of a configure-to-order, mixed-model factory."""

__version__ = "0.1.0"
