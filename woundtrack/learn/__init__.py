"""Learning from the clinic's own photos: fine-tune the wound-bed network on the CPU.

``onnx_net`` runs a woundtrack ONNX network as a trainable torch module and writes the tuned
weights back into a copy of the same ONNX graph; ``finetune`` is the short training run itself
(clinic photos mixed with replayed public photos, a held-back check before and after). Needs the
``train`` extra (torch); measuring never imports this room. It reads photos and scores outlines
with the image stages, and never touches the record, SQL or the faces.
"""
