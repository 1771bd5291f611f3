"""rtvoice_gateway: the phone gateway that runs an rtvoice agent for every call."""

__all__: list[str] = []
