"""yonos-bench: benchmark one-step diffusion super-resolution on versioned protocols."""

__version__ = "0.1.0"
