"""Tiny multimodal projectors ("mmproj" GGUFs) with seeded random weights, which llama.cpp's libmtmd
loads beside the bundled Gemma 3 270M (640 wide): a Gemma 3 vision projector (a SigLIP-shaped encoder
of two small layers, 4x4 pooling, soft-embedding norm and projection) and an Ultravox audio projector
(a Whisper-shaped encoder and the stacking projector). Their output means nothing; they make libmtmd
tokenize, encode and feed media exactly as it does for a real model.

Shapes are numpy shapes (the GGUF writer reverses them into ggml's order). What libmtmd checks, and
so what these keep to: the projection's output width equals the text model's n_embd; a Gemma 3
feed-forward width differs from the encoder width (else libmtmd swaps ffn_up and ffn_down); an
Ultravox stack factor divides 1500 (else encoding aborts the process); 1-D norms and biases are f32.
A Gemma 3 image is (image_size / patch_size / n_merge)^2 tokens: 16 with the defaults.
"""

from __future__ import annotations

import os

import gguf
import numpy as np


def _mat(
    rng: np.random.Generator, shape: tuple[int, ...], dtype: type, scale: float | None = None
) -> np.ndarray:
    """Random matrix, roughly unit-variance after projection."""
    if scale is None:
        scale = 1.0 / np.sqrt(shape[-1])
    return (rng.standard_normal(shape) * scale).astype(dtype)


def _vec(rng: np.random.Generator, n: int, scale: float = 0.02) -> np.ndarray:
    return (rng.standard_normal(n) * scale).astype(np.float32)


def _encoder_blocks(
    w: gguf.GGUFWriter,
    rng: np.random.Generator,
    prefix: str,
    *,
    n_layer: int,
    n_embd: int,
    n_ff: int,
    dtype: type,
    has_k_bias: bool,
) -> None:
    """The transformer blocks and final norm of a vision ("v") or audio ("a") encoder."""
    f32 = np.float32
    for il in range(n_layer):
        p = f"{prefix}.blk.{il}."
        for nm in ("attn_q", "attn_k", "attn_v", "attn_out"):
            w.add_tensor(p + nm + ".weight", _mat(rng, (n_embd, n_embd), dtype))
            if nm != "attn_k" or has_k_bias:
                w.add_tensor(p + nm + ".bias", _vec(rng, n_embd))
        w.add_tensor(p + "ln1.weight", np.ones(n_embd, f32))
        w.add_tensor(p + "ln1.bias", np.zeros(n_embd, f32))
        w.add_tensor(p + "ln2.weight", np.ones(n_embd, f32))
        w.add_tensor(p + "ln2.bias", np.zeros(n_embd, f32))
        w.add_tensor(p + "ffn_up.weight", _mat(rng, (n_ff, n_embd), dtype))
        w.add_tensor(p + "ffn_up.bias", _vec(rng, n_ff))
        w.add_tensor(p + "ffn_down.weight", _mat(rng, (n_embd, n_ff), dtype))
        w.add_tensor(p + "ffn_down.bias", _vec(rng, n_embd))
    w.add_tensor(f"{prefix}.post_ln.weight", np.ones(n_embd, f32))
    w.add_tensor(f"{prefix}.post_ln.bias", np.zeros(n_embd, f32))


def write_tiny_gemma3_mmproj(
    path: str | os.PathLike,
    *,
    n_embd_text: int = 640,
    seed: int = 0,
    image_size: int = 64,
    patch_size: int = 4,
    n_merge: int | None = None,
    n_embd: int = 32,
    n_ff: int = 64,
    n_layer: int = 2,
    n_head: int = 2,
    matrix_dtype: str = "f32",
) -> dict[str, object]:
    """Write a tiny Gemma 3 (SigLIP + avg-pool + soft-emb-norm + projection)
    mmproj GGUF to *path*.

    Tokens per image = (image_size // patch_size // n_merge) ** 2, where
    n_merge defaults to 4 inside libmtmd (the real Gemma 3 value) when the
    key ``clip.vision.projector.scale_factor`` is absent.  With the defaults
    here (64 / 4 / 4) that is 4*4 = 16 tokens.  For the real 256 tokens
    cheaply, pass n_merge=1 (256 patches, no pooling), or image_size=256
    (64x64 patches pooled 4x4, slower).

    matrix_dtype: "f32" or "f16" for the 2-D/4-D weight matrices (1-D
    norms/biases and the position embedding always stay f32).

    Returns a small dict describing what was written.
    """
    if n_embd % n_head:
        raise ValueError("n_embd must be divisible by n_head")
    if n_ff == n_embd:
        # libmtmd swaps ffn_up/ffn_down for gemma3 when ffn_down.ne[0] == n_embd
        # (legacy naming fix); keep them different to avoid ambiguity.
        raise ValueError("n_ff must differ from n_embd")
    if image_size % patch_size:
        raise ValueError("image_size must be a multiple of patch_size")
    side = image_size // patch_size
    merge = 4 if n_merge is None else n_merge
    if side % merge:
        raise ValueError("image_size/patch_size must be a multiple of n_merge")
    n_patches = side * side
    n_tokens = (side // merge) ** 2

    mdt = {"f32": np.float32, "f16": np.float16}[matrix_dtype]
    rng = np.random.default_rng(seed)

    w = gguf.GGUFWriter(os.fspath(path), arch="clip")
    # general.architecture = "clip" is written by the constructor
    w.add_name("tiny-gemma3-mmproj")
    w.add_description("tiny random Gemma 3 vision projector for tests")
    w.add_file_type(gguf.LlamaFileType.ALL_F32 if matrix_dtype == "f32" else gguf.LlamaFileType.MOSTLY_F16)
    w.add_string("clip.projector_type", "gemma3")
    w.add_bool("clip.has_vision_encoder", True)
    w.add_bool("clip.has_audio_encoder", False)
    w.add_bool("clip.use_gelu", True)  # SigLIP uses gelu(tanh); absent => gelu_quick
    w.add_uint32("clip.vision.image_size", image_size)
    w.add_uint32("clip.vision.patch_size", patch_size)
    w.add_uint32("clip.vision.embedding_length", n_embd)
    w.add_uint32("clip.vision.feed_forward_length", n_ff)
    w.add_uint32("clip.vision.block_count", n_layer)
    w.add_uint32("clip.vision.attention.head_count", n_head)
    w.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-6)
    w.add_uint32("clip.vision.projection_dim", n_embd_text)
    w.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
    w.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])
    if n_merge is not None:
        w.add_uint32("clip.vision.projector.scale_factor", n_merge)

    f32 = np.float32
    # patch embedding: conv2d kernel, ggml ne = [P, P, 3, n_embd]
    w.add_tensor(
        "v.patch_embd.weight",
        _mat(rng, (n_embd, 3, patch_size, patch_size), mdt, scale=1.0 / np.sqrt(3 * patch_size * patch_size)),
    )
    w.add_tensor("v.patch_embd.bias", _vec(rng, n_embd))
    # learned absolute position embedding, ggml ne = [n_embd, n_patches]
    w.add_tensor("v.position_embd.weight", (rng.standard_normal((n_patches, n_embd)) * 0.02).astype(f32))
    _encoder_blocks(w, rng, "v", n_layer=n_layer, n_embd=n_embd, n_ff=n_ff, dtype=mdt, has_k_bias=True)
    # Gemma 3 multimodal projector
    w.add_tensor("mm.soft_emb_norm.weight", np.ones(n_embd, f32))
    # used as mul_mat(transpose(W), x): ggml ne = [n_embd_text, n_embd]
    # => clip_n_mmproj_embd() = ne[0] must equal the text model's n_embd
    w.add_tensor(
        "mm.input_projection.weight", _mat(rng, (n_embd, n_embd_text), mdt, scale=1.0 / np.sqrt(n_embd))
    )

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return {"path": os.fspath(path), "n_tokens_per_image": n_tokens, "n_patches": n_patches, "n_merge": merge}


def write_tiny_audio_mmproj(
    path: str | os.PathLike,
    *,
    n_embd_text: int = 640,
    seed: int = 0,
    n_embd: int = 32,
    n_ff: int = 64,
    n_layer: int = 2,
    n_head: int = 2,
    n_mel_bins: int = 80,
    stack_factor: int = 10,
    n_proj_hidden: int = 64,
    matrix_dtype: str = "f32",
) -> dict[str, object]:
    """Write a tiny Ultravox-style audio mmproj GGUF (Whisper encoder:
    conv1d(k3,s1) -> gelu -> conv1d(k3,s2) -> gelu -> ViT; then
    StackAudioFrames(stack_factor) -> rmsnorm -> linear -> swiglu -> rmsnorm
    -> linear to n_embd_text).  Ultravox needs no <audio> begin/end tokens,
    so it works with any text vocabulary.

    libmtmd always feeds 3000-frame (30 s) mel chunks (16 kHz, n_fft 400,
    hop 160); every started 30 s chunk is padded, so a 1 s clip still gives
    one full chunk.  Tokens per chunk = (3000 // stack_factor) // 2, and the
    graph produces ceil(1500 / stack_factor) rows, so stack_factor must
    divide 1500 or libmtmd GGML_ABORTs ("Invalid number of output tokens");
    e.g. 10 -> 150 tokens, 12 -> 125, 4 -> 375 (the real Ultravox value 8
    gives 187 vs 188 -> abort; see report).
    """
    if 1500 % stack_factor:
        raise ValueError("stack_factor must divide 1500 (see docstring)")
    if n_embd % n_head:
        raise ValueError("n_embd must be divisible by n_head")
    mdt = {"f32": np.float32, "f16": np.float16}[matrix_dtype]
    f32 = np.float32
    rng = np.random.default_rng(seed)
    n_pos = 1500  # whisper: 3000 mel frames -> 1500 after the stride-2 conv
    n_tokens = (3000 // stack_factor) // 2

    w = gguf.GGUFWriter(os.fspath(path), arch="clip")
    w.add_name("tiny-ultravox-mmproj")
    w.add_description("tiny random Ultravox/Whisper audio projector for tests")
    w.add_file_type(gguf.LlamaFileType.ALL_F32 if matrix_dtype == "f32" else gguf.LlamaFileType.MOSTLY_F16)
    w.add_string("clip.projector_type", "ultravox")
    w.add_bool("clip.has_vision_encoder", False)
    w.add_bool("clip.has_audio_encoder", True)
    w.add_uint32("clip.audio.num_mel_bins", n_mel_bins)
    w.add_uint32("clip.audio.embedding_length", n_embd)
    w.add_uint32("clip.audio.feed_forward_length", n_ff)
    w.add_uint32("clip.audio.block_count", n_layer)
    w.add_uint32("clip.audio.attention.head_count", n_head)
    w.add_float32("clip.audio.attention.layer_norm_epsilon", 1e-5)
    w.add_uint32("clip.audio.projection_dim", n_embd_text)
    w.add_uint32("clip.audio.projector.stack_factor", stack_factor)

    # conv1d kernels: ggml ne = [K=3, C_in, C_out]; bias ne = [1, C_out]
    w.add_tensor(
        "a.conv1d.1.weight", _mat(rng, (n_embd, n_mel_bins, 3), mdt, scale=1.0 / np.sqrt(3 * n_mel_bins))
    )
    w.add_tensor("a.conv1d.1.bias", _vec(rng, n_embd).reshape(n_embd, 1))
    w.add_tensor("a.conv1d.2.weight", _mat(rng, (n_embd, n_embd, 3), mdt, scale=1.0 / np.sqrt(3 * n_embd)))
    w.add_tensor("a.conv1d.2.bias", _vec(rng, n_embd).reshape(n_embd, 1))
    w.add_tensor("a.position_embd.weight", (rng.standard_normal((n_pos, n_embd)) * 0.02).astype(f32))
    # Whisper: k has no bias (asserted by libmtmd).
    _encoder_blocks(w, rng, "a", n_layer=n_layer, n_embd=n_embd, n_ff=n_ff, dtype=mdt, has_k_bias=False)
    # Ultravox projector
    d_stack = n_embd * stack_factor
    w.add_tensor("mm.a.norm_pre.weight", np.ones(d_stack, f32))
    w.add_tensor("mm.a.mlp.1.weight", _mat(rng, (2 * n_proj_hidden, d_stack), mdt))
    w.add_tensor("mm.a.norm_mid.weight", np.ones(n_proj_hidden, f32))
    # clip_n_mmproj_embd() = mm.a.mlp.2.weight ne[1] -> must equal text n_embd
    w.add_tensor("mm.a.mlp.2.weight", _mat(rng, (n_embd_text, n_proj_hidden), mdt))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return {"path": os.fspath(path), "n_tokens_per_30s_chunk": n_tokens, "stack_factor": stack_factor}
