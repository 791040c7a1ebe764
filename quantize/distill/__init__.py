"""Knowledge distillation: train a smaller student to imitate a bundle's teacher, measure it, ship it.

One module per student (``text``, ``vision``, ``speech``); ``loop`` holds the shared, resumable
training loop and ``cli`` the ``python -m quantize distill`` entry point. Each student writes a
``distilled`` (and, where int8 applies, ``distilled-int8``) variant into the bundle with the recipe
and the metrics measured on held-out data.
"""

STUDENTS = ("text", "vision", "speech")
