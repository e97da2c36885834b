"""from_sd15 on a miniature Stable Diffusion folder (tiny UNet/VAE/CLIP), and missing weights."""

from __future__ import annotations

import json

import pytest
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel

from yonos_bench.core.errors import WeightsMissingError
from yonos_train.pipeline import YonosSRPipeline
from yonos_train.presets import SD15_HUB_ID, TINY_UNET, TINY_VAE, from_sd15


@pytest.fixture(scope="module")
def sd_folder(tmp_path_factory):
    """A diffusers Stable Diffusion folder layout with tiny random parts (4-channel UNet)."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    root = tmp_path_factory.mktemp("sd15-mini")
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**TINY_UNET)
    with torch.no_grad():
        unet.conv_in.bias.normal_()
    unet.save_pretrained(root / "unet")
    AutoencoderKL(**TINY_VAE).save_pretrained(root / "vae")
    files = root / "tok-src"
    files.mkdir()
    (files / "vocab.json").write_text(json.dumps({"<|startoftext|>": 0, "<|endoftext|>": 1, "a</w>": 2}))
    (files / "merges.txt").write_text("#version: 0.2\n")
    tok = CLIPTokenizer(
        vocab_file=str(files / "vocab.json"),
        merges_file=str(files / "merges.txt"),
        model_max_length=77,
        bos_token="<|startoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )
    tok.save_pretrained(root / "tokenizer")
    config = CLIPTextConfig(
        vocab_size=max(len(tok), 3),
        hidden_size=TINY_UNET["cross_attention_dim"],
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        max_position_embeddings=77,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    CLIPTextModel(config).save_pretrained(root / "text_encoder")
    (root / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    return root


def test_from_sd15_widens_and_stores_the_empty_prompt_embedding(sd_folder, tmp_path):
    from transformers import CLIPTextModel, CLIPTokenizer

    pipe = from_sd15(sd_folder, scale=4)
    assert (pipe.scale_factor, pipe.config.preset) == (4, "sd15")
    assert str(sd_folder) in pipe.config.lineage
    # SD's unconditional embedding: [BOS, EOS, PAD × 75] through the text encoder
    tok = CLIPTokenizer.from_pretrained(sd_folder / "tokenizer")
    ids = torch.tensor([[tok.bos_token_id, tok.eos_token_id] + [tok.pad_token_id] * 75])
    with torch.no_grad():
        expected = CLIPTextModel.from_pretrained(sd_folder / "text_encoder")(ids)[0]
    torch.testing.assert_close(pipe.null_embedding.embedding, expected, rtol=0, atol=0)
    assert "CLIP empty prompt" in pipe.null_embedding.config.source
    original = UNet2DConditionModel.from_pretrained(sd_folder / "unet")
    ours = pipe.unet.state_dict()
    for key, value in original.state_dict().items():
        if key == "conv_in.weight":
            assert torch.equal(ours[key][:, :4], value) and torch.count_nonzero(ours[key][:, 4:]) == 0
        else:
            assert torch.equal(ours[key], value), key
    assert pipe.unet.config.in_channels == 8
    # it runs, and round-trips as a YONOS pipeline; the SD folder itself does not load as one
    lr = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    out = pipe(lr, 1, [torch.Generator().manual_seed(0)])
    pipe.save_pretrained(tmp_path / "yonos")
    again = YonosSRPipeline.from_pretrained(tmp_path / "yonos")
    assert torch.equal(again(lr, 1, [torch.Generator().manual_seed(0)]), out)
    with pytest.raises(
        ValueError, match=r"holds a 'StableDiffusionPipeline' pipeline, not a YonosSRPipeline"
    ):
        YonosSRPipeline.from_pretrained(sd_folder)


def test_from_sd15_refuses_an_already_widened_unet(sd_folder, tmp_path):
    import shutil

    copy = tmp_path / "widened"
    shutil.copytree(sd_folder, copy)
    from_sd15(sd_folder).unet.save_pretrained(copy / "unet")
    with pytest.raises(
        ValueError, match=r"^path_or_repo_id: .* UNet has in_channels=8; expected a text-to-image UNet with 4"
    ):
        from_sd15(copy)


def test_missing_sd15_weights_say_what_and_how(tmp_path):
    with pytest.raises(WeightsMissingError) as info:
        from_sd15(tmp_path / "nowhere")
    message = str(info.value)
    assert f"'{tmp_path / 'nowhere'}' (no such folder)" in message
    assert SD15_HUB_ID in message and f"https://huggingface.co/{SD15_HUB_ID}" in message
    assert f"hf download {SD15_HUB_ID}" in message
    partial = tmp_path / "partial"
    (partial / "unet").mkdir(parents=True)
    with pytest.raises(WeightsMissingError, match=r"missing subfolders: vae, text_encoder, tokenizer"):
        from_sd15(partial)


@pytest.mark.filterwarnings("ignore:The `local_dir_use_symlinks` argument is deprecated")
def test_hub_id_offline_gives_the_same_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.chdir(tmp_path)  # so the hub id is not also a relative folder
    with pytest.raises(
        WeightsMissingError, match=r"Stable Diffusion v1.5 weights not found: 'some-org/sd15-copy'"
    ):
        from_sd15("some-org/sd15-copy")
