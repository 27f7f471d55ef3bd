"""Pure pipeline stages over Polars frames, in the order they run:
``normalise`` → ``validate`` → ``dedupe`` → ``match`` → ``rate``.

Each stage takes frames and returns frames; stages that can refuse rows also return a
rejection frame (``model.rejections.REJECTION_SCHEMA``). No stage does I/O.
"""
