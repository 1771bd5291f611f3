"""Conversation history, turns and seeds.

:class:`ConversationHistory` orders turns by conversation item (not by when transcripts arrive) and
marks interrupted assistant turns, keeping only the part estimated to have been heard.
:class:`ConversationSeed` pre-fills the session with synthetic exchanges that never show in the history.
"""

from rtvoice.conversation.history import ConversationHistory
from rtvoice.conversation.seed import ConversationSeed, SeedMessage
from rtvoice.conversation.turns import ConversationTurn, Role, heard_prefix

__all__ = [
    "ConversationHistory",
    "ConversationSeed",
    "ConversationTurn",
    "Role",
    "SeedMessage",
    "heard_prefix",
]
