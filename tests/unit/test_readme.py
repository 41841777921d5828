"""The README's common-path example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

README = Path(__file__).resolve().parents[2] / "README.md"


def test_common_path_block_runs(tmp_path, monkeypatch, capsys):
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## The common path"):text.index("## The `pkpd` command")]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1
    code = blocks[0]
    assert len(code.strip().splitlines()) <= 25  # the promise: about 20 lines
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)  # our own README, not user input
    out = tmp_path / "common_path.html"
    assert out.is_file() and "Provenance" in out.read_text(encoding="utf-8")
    assert namespace["fit"].success
    st = namespace["gsa"].to_frame().set_index("param")["ST"]
    assert (st >= -0.05).all() and st.max() > 0.1
    import matplotlib.pyplot as plt

    plt.close("all")
