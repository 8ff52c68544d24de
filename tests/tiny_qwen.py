"""A tiny Qwen2-VL-style tokenizer made offline, for the engine checks that run in their own
venvs (`trl_proof`, `easyr1_check`; each imports this from ``tests/``, its own folder): a
byte-level BPE trained here on the given texts, the Qwen2-VL special tokens and a Qwen-style
chat template. No download."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>",
           "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def byte_level_bpe(texts: Iterable[str], vocab_size: int = 600) -> Any:
    """A ``tokenizers.Tokenizer``: byte-level BPE of ``vocab_size`` tokens trained on
    ``texts``, with `SPECIAL`; wrap it in the engine's fast tokenizer class with
    ``eos_token="<|im_end|>"``, ``pad_token="<|endoftext|>"`` and `CHAT_TEMPLATE`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(list(texts), trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return tok
