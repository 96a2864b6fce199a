"""Token usage of Claude's alert explanations and what it costs at Anthropic's list prices (an estimate)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TokenUsage:
    """Tokens as the Messages API reports them; ``input_tokens`` excludes the cached ones."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    @classmethod
    def of(cls, usage: object) -> TokenUsage:
        """From a response's ``usage`` (fields the API leaves out count as 0)."""
        names = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        return cls(*(int(getattr(usage, name, None) or 0) for name in names))

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_creation_input_tokens + other.cache_creation_input_tokens,
            self.cache_read_input_tokens + other.cache_read_input_tokens,
        )


@dataclass(frozen=True)
class Price:
    """USD per million tokens. Cache writes (5-minute cache) cost 1.25 x input, cache reads 0.1 x input."""

    input: float
    output: float

    @property
    def cache_write(self) -> float:
        return 1.25 * self.input

    @property
    def cache_read(self) -> float:
        return 0.1 * self.input


#: Anthropic's list prices by model name prefix, first match wins: an estimate, not an invoice.
MODEL_PRICES: tuple[tuple[str, Price], ...] = (
    ("claude-opus-4-6", Price(5.0, 25.0)),
    ("claude-opus-4-5", Price(5.0, 25.0)),
    ("claude-opus-4-1", Price(15.0, 75.0)),
    ("claude-opus-4-0", Price(15.0, 75.0)),
    ("claude-opus-4-2025", Price(15.0, 75.0)),  # claude-opus-4-20250514, Opus 4
    ("claude-sonnet-4", Price(3.0, 15.0)),
    ("claude-haiku-4-5", Price(1.0, 5.0)),
)


def model_price(model: str) -> Price | None:
    """The model's price from ``MODEL_PRICES``, None when no prefix matches."""
    return next((price for prefix, price in MODEL_PRICES if model.startswith(prefix)), None)


def estimated_cost_usd(usage: TokenUsage, model: str | None) -> float | None:
    """What ``usage`` costs on ``model`` in USD, at list prices: 0 without tokens, None for an unknown price."""
    if usage == TokenUsage():
        return 0.0
    price = model_price(model) if model else None
    if price is None:
        return None
    return (usage.input_tokens * price.input + usage.output_tokens * price.output
            + usage.cache_creation_input_tokens * price.cache_write
            + usage.cache_read_input_tokens * price.cache_read) / 1e6  # fmt: skip
