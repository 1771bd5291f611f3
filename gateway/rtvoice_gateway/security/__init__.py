"""Who may call us: Twilio request signatures, and single-use stream tokens that bind a stream to its call.

* :mod:`~rtvoice_gateway.security.signature`: ``X-Twilio-Signature`` and :class:`PublicURL`.
* :mod:`~rtvoice_gateway.security.tokens`: :class:`StreamTokens` (mint, verify) and their errors.
* :mod:`~rtvoice_gateway.security.token_store`: :class:`TokenStore`, :class:`InMemoryTokenStore`.
"""

from rtvoice_gateway.security.signature import (
    HMAC_SHA1,
    HMAC_SHA256,
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    FormParams,
    PublicURL,
    compute_signature,
    signature_algorithm,
    validate_signature,
)
from rtvoice_gateway.security.token_store import (
    DEFAULT_MAX_ENTRIES,
    InMemoryTokenStore,
    TokenStore,
    TokenStoreFull,
    TokenStoreUnavailable,
)
from rtvoice_gateway.security.tokens import (
    DEFAULT_TOKEN_TTL_SECONDS,
    MIN_SECRET_BYTES,
    BadTokenSignature,
    ExpiredToken,
    MalformedToken,
    StreamGrant,
    StreamTokenError,
    StreamTokens,
)

__all__ = [
    "DEFAULT_MAX_ENTRIES",
    "DEFAULT_TOKEN_TTL_SECONDS",
    "HMAC_SHA1",
    "HMAC_SHA256",
    "MIN_SECRET_BYTES",
    "SIGNATURE_HEADER",
    "SIGNATURE_SETTINGS_HEADER",
    "BadTokenSignature",
    "ExpiredToken",
    "FormParams",
    "InMemoryTokenStore",
    "MalformedToken",
    "PublicURL",
    "StreamGrant",
    "StreamTokenError",
    "StreamTokens",
    "TokenStore",
    "TokenStoreFull",
    "TokenStoreUnavailable",
    "compute_signature",
    "signature_algorithm",
    "validate_signature",
]
