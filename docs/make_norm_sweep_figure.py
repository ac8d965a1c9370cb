"""Render docs/train_sweep_norms.png from a `sweep train` JSON (the Train sweep view's summary plot, as its
Export PNG… writes it): "is LayerNorm as robust to the init as BatchNorm?".

    initscope sweep train --config deep5k.json --param gain --values 0.25,0.5,1,5/3,3 \\
        --param2 norm --values2 none,batchnorm,layernorm,rmsnorm --workers 2 --json-out norm_sweep.json
    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_norm_sweep_figure.py norm_sweep.json
"""

import sys
from pathlib import Path


def main() -> None:
    from initscope.gui.app import make_app
    from initscope.gui.train_sweep import TrainSweepView

    make_app()
    view = TrainSweepView()
    view.resize(1400, 600)
    view.load_json(sys.argv[1])
    view.show()
    out = Path(__file__).with_name("train_sweep_norms.png")
    view.export_png(out)
    print(out)


if __name__ == "__main__":
    main()
