from __future__ import annotations

import subprocess
import sys


def test_import_dse_stays_light() -> None:
    code = ("import sys, dse; heavy = {'torch', 'finn', 'qonnx', 'brevitas', 'onnx', 'plotly', 'optuna'} "
            "& {m.split('.')[0] for m in sys.modules}; assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)
