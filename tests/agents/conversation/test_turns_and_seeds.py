"""ConversationTurn, heard_prefix, SeedMessage and ConversationSeed."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from rtvoice.conversation import ConversationSeed, ConversationTurn, SeedMessage, heard_prefix
from rtvoice.exceptions import ConfigurationError


def test_turn_format() -> None:
    assert ConversationTurn("user", "Hi").format() == "[USER]: Hi"
    assert ConversationTurn("assistant", "Hello").format() == "[ASSISTANT]: Hello"
    assert (
        ConversationTurn("assistant", "Hel", "item_1", interrupted=True).format()
        == "[ASSISTANT, INTERRUPTED]: Hel"
    )


@pytest.mark.parametrize(
    ("fraction", "expected"),
    [
        (0.0, ""),
        (-1.0, ""),
        (0.05, ""),  # inside the first word: not understood
        (0.2, "Once"),  # 7 of 34 characters ends inside "upon": back to the word's start
        (0.5, "Once upon a time"),  # 17 characters end right after a space
        (0.9, "Once upon a time there was a"),  # 31 characters end inside "king."
        (0.99, "Once upon a time there was a king."),  # rounds to all 34
        (1.0, "Once upon a time there was a king."),
        (1.5, "Once upon a time there was a king."),
    ],
)
def test_heard_prefix(fraction: float, expected: str) -> None:
    assert heard_prefix("Once upon a time there was a king.", fraction) == expected


@given(st.text(), st.floats(min_value=0.0, max_value=1.0))
@example("\x85", 1.0)  # found by hypothesis on 3.13: all heard, but only whitespace
@example("all of it ", 1.0)
def test_heard_prefix_is_a_prefix_ending_at_a_word_boundary(text: str, fraction: float) -> None:
    heard = heard_prefix(text, fraction)
    assert text.startswith(heard)
    assert heard == heard.rstrip()
    rest = text[len(heard) :]
    assert heard == text or not heard or not rest or rest[0].isspace()


def test_seed_messages() -> None:
    assert SeedMessage.user("Hi") == SeedMessage("user", "Hi")
    assert SeedMessage.assistant("Hello") == SeedMessage("assistant", "Hello")
    with pytest.raises(ConfigurationError, match="role"):
        SeedMessage("system", "x")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="text"):
        SeedMessage("user", 42)  # type: ignore[arg-type]


def test_seeds() -> None:
    seed = ConversationSeed.from_pairs(
        ("My name is Alice.", "Nice to meet you, Alice."), ("Short answers.", "Sure.")
    )
    assert seed.messages == (
        SeedMessage.user("My name is Alice."),
        SeedMessage.assistant("Nice to meet you, Alice."),
        SeedMessage.user("Short answers."),
        SeedMessage.assistant("Sure."),
    )
    assert ConversationSeed(messages=[SeedMessage.user("x")]).messages == (SeedMessage.user("x"),)
    assert ConversationSeed().messages == ()
    with pytest.raises(ConfigurationError, match="SeedMessage"):
        ConversationSeed(messages=["hello"])  # type: ignore[list-item]
