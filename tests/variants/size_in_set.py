"""Soundness regression: a patch that changes the model only for a few thread counts, looked up in
a set (hash(), never a comparison). exit_mm goes at 4 to 8 threads, so nothing exits there.
Once "proved for every threads >= 2"."""

MODEL = "freezer"
BASE = "v10"

BROKEN_AT = {4, 5, 6, 7, 8}


def derive(m):
    if m.sizes["threads"] in BROKEN_AT:
        m.remove_action("exit_mm")
    return m
