"""Soundness regression: a patch that tells a number from a symbol (isinstance) and changes the
model from 4 threads on: exit_mm goes, so nothing exits. Once "proved for every threads >= 2"."""

MODEL = "freezer"
BASE = "v10"


def derive(m):
    n = m.sizes["threads"]
    if isinstance(n, int) and n >= 4:
        m.remove_action("exit_mm")
    return m
