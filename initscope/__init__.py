"""initscope: see what weight initialisation and BatchNorm do to a network while it trains."""

__version__ = "0.1.0"
