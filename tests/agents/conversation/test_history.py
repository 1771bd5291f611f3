"""ConversationHistory: order by item, late transcripts, interrupted turns, formatting."""

from __future__ import annotations

from rtvoice.conversation import ConversationHistory, ConversationTurn


def test_empty() -> None:
    history = ConversationHistory()
    assert history.turns == []
    assert len(history) == 0
    assert history.format() == "(no conversation yet)"


def test_late_user_transcript_lands_before_the_reply_it_preceded() -> None:
    history = ConversationHistory()
    history.place_item("u1", None)
    history.place_item("a1", "u1")
    history.set_transcript("a1", "assistant", "Hello! How can I help?")
    history.set_transcript("u1", "user", "Hi there.")  # arrives after the reply
    history.place_item("u2", "a1")
    history.place_item("a2", "u2")
    history.set_transcript("a2", "assistant", "It's noon.")
    history.set_transcript("u2", "user", "What time is it?")
    assert history.turns == [
        ConversationTurn("user", "Hi there.", "u1"),
        ConversationTurn("assistant", "Hello! How can I help?", "a1"),
        ConversationTurn("user", "What time is it?", "u2"),
        ConversationTurn("assistant", "It's noon.", "a2"),
    ]
    assert len(history) == 4
    assert history.format() == (
        "[USER]: Hi there.\n[ASSISTANT]: Hello! How can I help?\n[USER]: What time is it?\n[ASSISTANT]: It's noon."
    )


def test_items_without_text_take_a_place_but_are_no_turns() -> None:
    history = ConversationHistory()
    history.place_item("seed_user", None)
    history.place_item("seed_assistant", "seed_user")
    history.place_item("u1", "seed_assistant")
    history.place_item("call", "u1")  # a function call: no transcript ever
    history.place_item("a1", "call")
    history.set_transcript("a1", "assistant", "Done.")
    history.set_transcript("u1", "user", "Book it.")
    assert history.format() == "[USER]: Book it.\n[ASSISTANT]: Done."


def test_an_item_inserted_mid_conversation_and_the_first_placement_wins() -> None:
    history = ConversationHistory()
    history.place_item("a", None)
    history.place_item("c", "a")
    history.place_item("b", "a")  # inserted right after "a", before "c"
    history.place_item("b", "c")  # announced again (conversation.item.done): ignored
    history.place_item("z", "unknown")  # unknown predecessor: at the end
    history.place_item("first", None)  # no predecessor: at the front
    for item_id in ("a", "b", "c", "z", "first"):
        history.set_transcript(item_id, "user", item_id)
    assert [turn.transcript for turn in history.turns] == ["first", "a", "b", "c", "z"]


def test_text_before_position_moves_the_item_into_place() -> None:
    history = ConversationHistory()
    history.place_item("u1", None)
    history.set_transcript("a1", "assistant", "Reply.")  # text first: provisionally at the end
    history.set_transcript("u2", "user", "Next.")
    history.place_item("a1", "u1")  # still right after u1
    history.place_item("u2", "a1")
    history.set_transcript("u1", "user", "Hello.")
    assert [turn.item_id for turn in history.turns] == ["u1", "a1", "u2"]


def test_interrupted_turns_show_what_was_heard() -> None:
    history = ConversationHistory()
    history.place_item("u1", None)
    history.place_item("a1", "u1")
    history.set_transcript("u1", "user", "Tell me a story.")
    history.mark_interrupted("a1", 0.5)  # marked before its text arrived
    history.set_transcript("a1", "assistant", "Once upon a time there was a king.")
    history.set_transcript("a1", "assistant", "")  # the server clears the transcript on truncate
    assert history.turns[1] == ConversationTurn("assistant", "Once upon a time", "a1", interrupted=True)
    assert history.format() == "[USER]: Tell me a story.\n[ASSISTANT, INTERRUPTED]: Once upon a time"


def test_an_interrupted_turn_of_which_nothing_was_heard_is_left_out() -> None:
    history = ConversationHistory()
    history.set_transcript("u1", "user", "Stop.")
    history.mark_interrupted("a1", 0.0)  # an item first known by its interruption goes to the end
    history.set_transcript("a1", "assistant", "Sure, here is")
    assert history.turns == [ConversationTurn("user", "Stop.", "u1")]


def test_empty_transcripts_are_no_turns_and_removed_items_are_gone() -> None:
    history = ConversationHistory()
    history.set_transcript("u1", "user", "")
    history.set_transcript("u2", "user", "Hello?")
    assert history.format() == "[USER]: Hello?"
    history.remove_item("u2")
    history.remove_item("never_seen")
    assert history.format() == "(no conversation yet)"
    history.place_item("u3", "u2")  # its predecessor is gone: at the end
    history.set_transcript("u3", "user", "Anyone?")
    assert [turn.item_id for turn in history.turns] == ["u3"]
