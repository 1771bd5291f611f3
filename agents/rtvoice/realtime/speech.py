"""Assistant speech, from audio delta to the listener's ear: what plays, what was heard, when it stopped.

This is the audio half of :class:`~rtvoice.realtime.RealtimeProtocol`; the bookkeeping of the playback
stream itself is :class:`~rtvoice.realtime.playback.PlaybackTracker`.

**Audio.** ``response.output_audio.delta`` is base64-decoded here and becomes
:class:`~rtvoice.realtime.PlayAudio` only while its response is open and not interrupted. Late deltas of
an interrupted response are dropped, but counted, so that the heard share of their item stays right.
The shell reports the device's played milliseconds (``receive_playback``), or nothing, and the tracker
falls back to wall-clock estimation from ``now``.

**Barge-in** (``input_audio_buffer.speech_started``, or the application's ``interrupt()``). If assistant
audio is still playing: :class:`~rtvoice.realtime.ClearPlayback`, then ``conversation.item.truncate`` of
the playing item at the ms actually played (clamped to what was received; skipped at 0 ms, which the
server rejects), then :class:`~rtvoice.realtime.Interrupted`. When playback had already finished nothing
is cleared or truncated: a truncate then is wrong and makes the model repeat itself (openai-agents
#2370). The server cancels an active response itself when ``interrupt_response`` is on; otherwise, and
always for ``interrupt()`` (the server knows nothing of it), ``response.cancel`` is sent for it. Either
way the response is *interrupted*: its remaining audio and transcript deltas are dropped. A barge-in
after generation finished while the audio still plays is the common case and works the same way: items
stay tracked until their audio has left the playback stream, not just until ``response.done``.

A *stretch of speech* starts with the first :class:`~rtvoice.realtime.PlayAudio` after silence and ends
with one :class:`~rtvoice.realtime.PlaybackFinished`: when the queued audio has played out and no
response that could add to it is still live, or when a barge-in clears it.
"""

from __future__ import annotations

from openai.types.realtime import ResponseAudioDeltaEvent, ResponseAudioTranscriptDoneEvent

from rtvoice.conversation import ConversationHistory, heard_prefix
from rtvoice.realtime.actions import (
    Action,
    ArmTimer,
    AssistantTranscript,
    ClearPlayback,
    Interrupted,
    PlayAudio,
    PlaybackFinished,
    SendEvent,
)
from rtvoice.realtime.client_events import cancel_response, truncate_item
from rtvoice.realtime.playback import PlaybackTracker
from rtvoice.realtime.responses import ResponseLedger
from rtvoice.realtime.wire import decode_audio

__all__ = ["AssistantSpeech"]

_PLAYED_MS_SLACK = 1e-6  # float sums of bytes/48 land a hair below whole milliseconds


class AssistantSpeech:
    """The assistant's audio output of one session.

    Args:
        playback: the playback stream's bookkeeping.
        responses: the response ledger (which responses are live or interrupted).
        history: the history to correct when speech is cut off.
        server_interrupts: the session's ``interrupt_response``: the server cancels the active response
            itself on ``speech_started``.
    """

    def __init__(
        self,
        playback: PlaybackTracker,
        responses: ResponseLedger,
        history: ConversationHistory,
        *,
        server_interrupts: bool,
    ) -> None:
        self._playback = playback
        self._responses = responses
        self._history = history
        self._server_interrupts = server_interrupts
        self._speaking = False

    def audio_delta(self, event: ResponseAudioDeltaEvent, now: float) -> list[Action]:
        """``response.output_audio.delta``: play it, or account for it as dropped.

        Raises:
            MalformedServerEvent: the delta is not base64.
        """
        response = self._responses.get(event.response_id)
        if response is None:
            return []  # a response that is over (or never started): nothing to play or account for
        audio = decode_audio(event.delta)
        if response.interrupted:
            self._playback.drop(event.item_id, event.response_id, len(audio))
            return []
        if not audio:
            return []
        self._playback.queue(event.item_id, event.response_id, len(audio), now)
        self._speaking = True
        return [PlayAudio(event.item_id, audio)]

    def transcript_done(self, event: ResponseAudioTranscriptDoneEvent) -> list[Action]:
        """``response.output_audio_transcript.done``: the item's text, cut to what was heard if it was cut."""
        item_id, transcript = event.item_id, event.transcript
        self._history.set_transcript(item_id, "assistant", transcript)
        item = self._playback.item(item_id)
        response = self._responses.get(event.response_id)
        fraction: float | None = None
        if item is not None and item.cut:
            fraction = item.heard_fraction
        elif item is None and response is not None and response.interrupted:
            fraction = 0.0  # interrupted before any of its audio arrived: none of it was heard
        if fraction is None:
            return [AssistantTranscript(item_id, transcript, interrupted=False)]
        self._history.mark_interrupted(item_id, fraction)
        return [AssistantTranscript(item_id, heard_prefix(transcript, fraction), interrupted=True)]

    def response_done(self, response_id: str) -> None:
        """The response ended: its items are complete; record how much of each cut one was heard."""
        for item in self._playback.close_response(response_id):
            if item.cut:
                self._history.mark_interrupted(item.item_id, item.heard_fraction)

    def barge_in(self, now: float, *, local: bool) -> list[Action]:
        """The user started speaking (``local=False``) or the application called ``interrupt()``."""
        actions: list[Action] = []
        tail: list[Action] = []
        playing = self._playback.is_playing(now)
        if playing:
            cuts = self._playback.clear(now)
            first = cuts[0]  # playing, so at least the segment under the position was cut
            played_ms = int(first.played_ms + _PLAYED_MS_SLACK)
            actions.append(ClearPlayback())
            if played_ms > 0:  # the server rejects a truncate at 0 ms
                actions.append(SendEvent(truncate_item(first.item.item_id, played_ms)))
            for cut in cuts:
                if cut.item.closed:  # generation is over; else its transcript/done event finishes it
                    self._history.mark_interrupted(cut.item.item_id, cut.item.heard_fraction)
            self._speaking = False
            tail = [Interrupted(first.item.item_id, played_ms), PlaybackFinished(interrupted=True)]
        if self._server_interrupts and not local:
            self._responses.server_interrupted()
        elif playing or local:
            actions += [SendEvent(cancel_response(rid)) for rid in self._responses.interrupt_all()]
        return actions + tail

    def check_drained(self, now: float) -> list[Action]:
        """End the stretch of speech when its audio has played out and nothing live can extend it."""
        if not self._speaking or self._responses.any_live:
            return []
        if self._playback.is_playing(now):
            deadline = self._playback.drain_deadline()
            return [] if deadline is None else [ArmTimer(deadline)]
        self._speaking = False
        return [PlaybackFinished(interrupted=False)]
