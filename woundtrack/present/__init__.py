"""Presentation: what a clinician looks at, built from values (never from the database).

``charts`` (the healing chart, the phase table, the headline figures), ``printable`` (the
self-contained printable patient report) and ``tissue_note`` (how far the tissue shares of a
given tissue network agree with wound specialists).
"""
