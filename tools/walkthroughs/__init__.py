"""The README's walk-throughs as scripts: `make walkthrough ARGS=commerce|metrics`."""
