"""initscope: see what weight initialisation and BatchNorm do to a network while it trains."""

__version__ = "0.1.0"

__all__ = ["watch", "check", "__version__"]


def __getattr__(name: str):
    # lazy: `import initscope` stays light (the app imports it before torch; nothing here imports Qt)
    if name in ("watch", "check", "Scope", "Check", "WatchWarning"):
        import importlib

        return getattr(importlib.import_module("initscope.scope"), name)
    raise AttributeError(f"module 'initscope' has no attribute {name!r}")
