"""rtvoice_codecs: pure audio code for the phone path (G.711, stateful resampling, 20 ms framing).

No asyncio and no I/O here: every function takes bytes and returns bytes, and streaming state lives in
explicit objects.
"""

__all__: list[str] = []
