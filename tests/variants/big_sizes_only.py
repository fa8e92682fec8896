"""Soundness regression (wrong answer 4): a patch that changes the model only for more than 10
threads (exit_mm removed, so nothing exits). Once "proved for every threads >= 2"."""

MODEL = "freezer"
BASE = "v10"


def derive(m):
    if m.sizes["threads"] > 10:
        m.remove_action("exit_mm")
    return m
