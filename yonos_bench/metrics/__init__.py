"""Metrics: convention-named presets over pyiqa and clean-fid, one-pass evaluation,
Inception feature caching, torchmetrics accumulation and bootstrap statistics.

Light to import: the backends (torch, pyiqa, clean-fid) are imported inside the functions
that need them."""
