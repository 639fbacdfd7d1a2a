"""The score-over-time dataset shared with agent runs: export, import, curves."""
