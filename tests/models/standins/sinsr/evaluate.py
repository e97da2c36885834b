"""Stand-in for wyf0912/SinSR evaluate.py: the real one builds pyiqa CLIPIQA and MUSIQ,
which download their weights; offline that fails like this."""


def evaluate(in_path, ref_path, ntest):
    raise RuntimeError("pyiqa: downloading clipiqa weights failed: Temporary failure in name resolution")
