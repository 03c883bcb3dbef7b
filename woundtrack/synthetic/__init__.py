"""Synthetic phantoms with exact truth, for tests, benchmarks and the demo photos (not the runtime).

``phantom`` renders a flat patch of skin with wounds of known tissue areas, an erythema ring and
the sticker, photographed by a simulated camera; ``accuracy`` measures woundtrack's area errors on
them.
"""
