"""Pipeline stages (split planning, ...) and the runner that drives them over a run store."""
