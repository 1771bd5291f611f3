"""Call recording on the call's real timeline, streamed to a WAV file that is valid at every moment.

* :class:`RecordingTimeline`: the pure core. Places caller audio where it was captured and agent audio
  where it was played, cuts what barge-in removed, and emits finished frames (mono mix or stereo).
* :class:`WavStreamWriter`: a WAV file that is valid at every moment, appended in blocks, its header
  rewritten after the data it counts.
* :class:`CallRecorder`: both together, what ``recording_path`` uses.
"""

from rtvoice.recording.recorder import CallRecorder
from rtvoice.recording.timeline import RecordingTimeline
from rtvoice.recording.wav_stream import WavStreamWriter

__all__ = ["CallRecorder", "RecordingTimeline", "WavStreamWriter"]
