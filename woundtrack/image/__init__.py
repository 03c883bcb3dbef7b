"""Image stages: pure functions from a photo to measurements, in the order a photo meets them.

``io`` (read a photo: orientation, capture time, limits) and ``location`` (remove GPS data) ->
``calibration`` (the sticker: homography to millimetres on the skin plane; ``sticker`` prints it)
-> ``learned`` (the wound-bed network, and the tissue network that splits the bed into eschar,
slough and granulation) and ``segmentation`` (the colour rules: black eschar, the erythema, and
the classical segmenter) -> ``measure`` (areas on the
rectified plane) -> ``pipeline`` (``analyze``: all of the above, with provenance). Beside them:
``overlay`` (what a person sees), ``editing`` (a person's outline corrections), ``lesion_matching``
(which lesion is which across visits), ``registration`` (one visit's photo onto another's) and
``evaluation`` (Dice against annotated masks). Nothing here touches the database, the analytics
or the faces.
"""
