"""Audio devices: the interfaces the agent talks to, their format, and ready-made implementations.

``AudioInputDevice`` and ``AudioOutputDevice`` are the 0.7.0 interfaces (with two optional extensions,
``format`` and ``played_ms``; see :mod:`rtvoice.audio.devices`). Implementations: WAV files
(:class:`WavInputDevice`, :class:`WavOutputDevice`), a null speaker, and the sound card through the
``sounddevice`` package (the ``audio`` extra; imported only when such a device starts).
:class:`PlayoutCounter` is the bookkeeping of ``played_ms`` they all share, for your devices too.
"""

from rtvoice.audio.devices import AudioInputDevice, AudioOutputDevice
from rtvoice.audio.format import AudioFormat
from rtvoice.audio.playout import PlayoutCounter
from rtvoice.audio.sounddevice_io import SoundDeviceMicrophone, SoundDeviceSpeaker
from rtvoice.audio.wav import NullOutputDevice, WavInputDevice, WavOutputDevice
from rtvoice.audio.wavfile import WavWriter, load_wav

__all__ = [
    "AudioFormat",
    "AudioInputDevice",
    "AudioOutputDevice",
    "NullOutputDevice",
    "PlayoutCounter",
    "SoundDeviceMicrophone",
    "SoundDeviceSpeaker",
    "WavInputDevice",
    "WavOutputDevice",
    "WavWriter",
    "load_wav",
]
