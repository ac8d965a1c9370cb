import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # the suite never needs a display

import pytest  # noqa: E402
import torch  # noqa: E402

from initscope.core.config import Config, LayerSpec, ModelConfig, TrainConfig, preset  # noqa: E402
from initscope.core.data import load_dataset, make_dataset, load_words, default_data_path  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def names_data():
    """The shipped names.txt, split as the lecture splits it."""
    return load_dataset(None, 3)


@pytest.fixture(scope="session")
def small_data():
    """The first 2,000 shipped names: enough for real numbers, quick to build."""
    return make_dataset(load_words(default_data_path())[:2000], 3, "names[:2000]")


def tiny_config(layers=None, steps=50, **train) -> Config:
    layers = layers or [LayerSpec("linear", 16), LayerSpec("batchnorm"), LayerSpec("tanh"),
                        LayerSpec("linear", 16), LayerSpec("tanh"), LayerSpec("linear", None)]
    cfg = preset("deep-bn")
    cfg.model = ModelConfig(block_size=3, n_embd=4, layers=layers)
    cfg.train = TrainConfig(steps=steps, batch_size=16, lr=0.1, lr_decay_step=0, seed=1234, **train)
    return cfg


@pytest.fixture
def win(qtbot):
    """The real main window on the lecture's deep net without BatchNorm, data loaded and previewed."""
    from initscope.gui.app import make_app
    from initscope.gui.main_window import MainWindow

    make_app()
    w = MainWindow(preset("deep-nobn"))
    qtbot.addWidget(w)
    w.resize(1366, 768)
    w.show()
    qtbot.waitUntil(lambda: w.data is not None and w.preview_snapshot is not None, timeout=60_000)
    yield w
    w.close()
