"""Analytics over a patient's record: pure functions on values, no database and no images.

``healing`` (PAR at week 4, Gilman's rate, the exponential fit, projected closure, phases per
treatment), ``timeline`` (which treatments were active when, chart bands and markers),
``timeline_csv`` (the treatment CSV format) and ``report`` (a patient's healing summary as typed
values for the faces and exports).
"""
