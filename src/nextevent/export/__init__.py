"""Exporters from run records to training-engine formats."""
