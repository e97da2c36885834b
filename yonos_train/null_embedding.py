"""The stored empty-prompt text embedding, a pipeline component that round-trips with diffusers.

SD's UNet cross-attends to ``encoder_hidden_states`` of shape (B, 77, 768). YONOS never
uses text, so the CLIP embedding of the empty prompt is computed once (by
:func:`yonos_train.presets.from_sd15`) and stored with the pipeline; inference needs no
text encoder. Being a ``ModelMixin``/``ConfigMixin``, it is written by
``save_pretrained`` as ``null_embedding/config.json`` + ``diffusion_pytorch_model.safetensors``
and reloaded by ``YonosSRPipeline.from_pretrained`` (model_index.json records the
component as ``["yonos_train.null_embedding", "NullTextEmbedding"]``).
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin


class NullTextEmbedding(ModelMixin, ConfigMixin):
    """A fixed (1, seq_len, dim) tensor; ``forward(batch)`` expands it to (batch, seq_len, dim)."""

    config_name = "config.json"

    @register_to_config
    def __init__(self, seq_len: int = 77, dim: int = 768, source: str = "random"):
        super().__init__()
        if seq_len < 1 or dim < 1:
            raise ValueError(f"seq_len, dim: expected positive sizes, got {seq_len}, {dim}")
        # A parameter (frozen), not a buffer: ModelMixin's loaders fill parameters on
        # every device path (meta included); it is never trained.
        self.embedding = torch.nn.Parameter(torch.zeros(1, seq_len, dim), requires_grad=False)

    @classmethod
    def from_tensor(cls, embedding: torch.Tensor, source: str) -> NullTextEmbedding:
        """Wrap a computed (1, seq_len, dim) or (seq_len, dim) embedding; ``source`` says where it came from."""
        if embedding.ndim == 2:
            embedding = embedding[None]
        if embedding.ndim != 3 or embedding.shape[0] != 1:
            raise ValueError(f"embedding: expected shape (1, seq_len, dim), got {tuple(embedding.shape)}")
        module = cls(seq_len=embedding.shape[1], dim=embedding.shape[2], source=source)
        with torch.no_grad():
            module.embedding.copy_(embedding.to(torch.float32))
        return module

    def forward(self, batch_size: int) -> torch.Tensor:
        return self.embedding.expand(batch_size, -1, -1)
