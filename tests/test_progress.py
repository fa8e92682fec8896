"""Progress display: one redrawn line on a terminal, plain lines in CI logs and pipes."""

from __future__ import annotations

import io

import pytest

from oomcheck.progress import CLEAR, SearchProgress, StatusLine, is_live


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_not_a_terminal() -> None:
    out = io.StringIO()
    status = StatusLine(out)
    assert not status.live
    status.show("first")
    status.show("second")
    status.close()
    assert out.getvalue() == "first\nsecond\n"  # no carriage return, no escape code


def test_live_line_is_redrawn_and_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    out = FakeTerminal()
    with StatusLine(out) as status:
        assert status.live
        status.show("first")
        status.show("second")
    assert out.getvalue() == f"{CLEAR}first{CLEAR}second{CLEAR}"
    assert "\n" not in out.getvalue()


def test_live_line_fits_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "20")
    out = FakeTerminal()
    status = StatusLine(out, live=True)
    status.show("x" * 50)
    shown = out.getvalue().removeprefix(CLEAR)
    assert len(shown) == 19 and shown.endswith("...")


@pytest.mark.parametrize("env", [{"CI": "true"}, {"TERM": "dumb"}])
def test_ci_and_dumb_terminals_get_plain_lines(monkeypatch: pytest.MonkeyPatch,
                                               env: dict[str, str]) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert not is_live(FakeTerminal())


def test_close_without_output_writes_nothing() -> None:
    out = FakeTerminal()
    StatusLine(out, live=True).close()
    assert out.getvalue() == ""


def test_search_progress_reports_states_and_rate() -> None:
    out = io.StringIO()
    progress = SearchProgress("freezer v10 threads=5", StatusLine(out))
    progress(1_000_000, 17, 4.0)
    progress.close()
    assert out.getvalue() == ("oomcheck: [freezer v10 threads=5] 1,000,000 states, depth 17, "
                              "4 s, 250,000 states/s\n")
