"""A text classifier as lrtool sees user code: a Dataset of dict samples, a collate_fn that pads, an embedding model.

The texts are made up from three small topic vocabularies (no download): each review draws most of its
words from its topic and the rest from words all topics share, so a bag of embeddings learns it in a few epochs.
Used by config.yaml next to this file: `lrtool find-lr examples/text_classifier/config.yaml`.
"""

from __future__ import annotations

import torch
from torch import nn

TOPICS = {
    "sports": "match goal team coach score league season player win referee".split(),
    "cooking": "recipe oven flour butter simmer taste sauce bake garlic pepper".split(),
    "travel": "flight hotel beach passport museum train map island tour luggage".split(),
}
COMMON = "the a and of to in is it was very really quite this that".split()
PAD = 0  # token id 0 pads; real words start at 1
VOCAB = ["<pad>"] + sorted({w for words in TOPICS.values() for w in words} | set(COMMON))
INDEX = {w: i for i, w in enumerate(VOCAB)}


class Reviews(torch.utils.data.Dataset):
    """Short texts of varying length as {"input_ids": LongTensor, "labels": int} (Hugging Face style)."""

    classes = list(TOPICS)

    def __init__(self, n: int = 600, seed: int = 0, min_len: int = 5, max_len: int = 20):
        gen = torch.Generator().manual_seed(seed)
        topic_words = [torch.tensor([INDEX[w] for w in words]) for words in TOPICS.values()]
        common = torch.tensor([INDEX[w] for w in COMMON])
        self.samples = []
        for i in range(n):
            label = i % len(TOPICS)
            length = int(torch.randint(min_len, max_len + 1, (), generator=gen))
            own = torch.rand(length, generator=gen) < 0.3  # 30% topic words, 70% shared words
            ids = torch.where(own, topic_words[label][torch.randint(10, (length,), generator=gen)],
                              common[torch.randint(len(common), (length,), generator=gen)])
            self.samples.append({"input_ids": ids, "labels": label})

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict:
        return self.samples[i]


def make_reviews(n: int = 600, seed: int = 0) -> Reviews:
    """The data callable named in the config: lrtool splits the Dataset by data.val_fraction."""
    return Reviews(n=n, seed=seed)


def collate(samples: list[dict]) -> dict:
    """Pad the texts of a batch to its longest one; the mask tells the model which tokens are real."""
    ids = nn.utils.rnn.pad_sequence([s["input_ids"] for s in samples], batch_first=True, padding_value=PAD)
    return {"input_ids": ids, "attention_mask": ids != PAD,
            "labels": torch.tensor([s["labels"] for s in samples])}


class BagOfEmbeddings(nn.Module):
    """Mean of the token embeddings over the real tokens, then a linear classifier."""

    def __init__(self, num_classes: int, vocab_size: int = len(VOCAB), dim: int = 32):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=PAD)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.unsqueeze(-1).float()
        pooled = (self.embed(input_ids) * mask).sum(1) / mask.sum(1).clamp_min(1)
        return self.head(pooled)
