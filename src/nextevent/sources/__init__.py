"""Importers: one module per annotation format, each yielding `VideoAnnotation` records."""
