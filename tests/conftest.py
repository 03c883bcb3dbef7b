"""Shared fixtures: phantoms are rendered once per spec and shared between tests."""

from __future__ import annotations

import functools

from woundtrack.phantom import Phantom, PhantomSpec, render_phantom


@functools.lru_cache(maxsize=64)
def phantom(spec: PhantomSpec) -> Phantom:
    """Render (once) the phantom of ``spec``; its arrays must not be modified by tests."""
    result = render_phantom(spec)
    result.image.setflags(write=False)
    result.labels.setflags(write=False)
    return result
