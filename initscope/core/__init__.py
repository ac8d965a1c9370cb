"""The Qt-free core: data, config, model and init, diagnostics, trainer, hints, history.

Imports torch and numpy only; nothing here may import Qt (tests/test_qt_free.py checks it).
"""
