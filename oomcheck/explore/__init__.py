"""The trace explorer: a local web page to step through a counterexample and branch off it."""
