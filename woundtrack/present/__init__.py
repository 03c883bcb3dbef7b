"""Presentation: what a clinician looks at, built from values (never from the database).

``charts`` (the healing chart, the phase table, the headline figures) and ``printable`` (the
self-contained printable patient report).
"""
