"""X-Twilio-Signature: the same answers as twilio's own RequestValidator, and PublicURL behind proxies."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator, get_signature_algorithm

from rtvoice.exceptions import ConfigurationError
from rtvoice_gateway.security import (
    HMAC_SHA1,
    HMAC_SHA256,
    PublicURL,
    compute_signature,
    signature_algorithm,
    validate_signature,
)

TOKEN = "12345678901234567890123456789012"


class MultiDict:
    """The shape RequestValidator reads repeated form fields from (like Django's QueryDict)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(name for name, _ in self.pairs))

    def __len__(self) -> int:
        return len(self.pairs)

    def getlist(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]


texts = st.text(st.characters(codec="utf-8"), max_size=12)
hosts = st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z]{2,6}){1,2}", fullmatch=True)
paths = st.lists(st.from_regex(r"[A-Za-z0-9._~%-]{0,8}", fullmatch=True), max_size=4).map(
    lambda parts: "/" + "/".join(parts)
)
queries = st.one_of(st.just(""), st.from_regex(r"\?[A-Za-z0-9=&%._-]{0,20}", fullmatch=True))


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["https", "http", "wss", "ws", "HTTPS"]))
    port = draw(
        st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}"), st.sampled_from([":443", ":80"]))
    )
    return f"{scheme}://{draw(hosts)}{port}{draw(paths)}{draw(queries)}"


def port_variants(url: str) -> list[str]:
    """The URL as given, and with its port removed or the scheme's default added (what Twilio may sign)."""
    scheme, rest = url.split("://", 1)
    host, _, tail = rest.partition("/")
    bare = host.split(":")[0]
    default = "443" if scheme.lower() == "https" else "80"
    return [url, f"{scheme}://{bare}/{tail}", f"{scheme}://{bare}:{default}/{tail}"]


@settings(max_examples=300, deadline=None)
@given(
    texts,
    urls(),
    st.lists(st.tuples(st.sampled_from(["To", "From", "CallSid", "b", "a"]) | texts, texts), max_size=6),
    st.data(),
)
def test_the_same_answers_as_twilio(
    token: str, url: str, pairs: list[tuple[str, str]], data: st.DataObject
) -> None:
    twilio = RequestValidator(token)
    form = MultiDict(pairs)
    assert compute_signature(token, url, pairs) == twilio.compute_signature(url, form)
    signed_url = data.draw(st.sampled_from(port_variants(url) + [url + "x", url.replace("://", "://a")]))
    signature = data.draw(
        st.one_of(
            st.just(twilio.compute_signature(signed_url, form)),
            st.just(twilio.compute_signature(signed_url, MultiDict(pairs[1:]))),
            st.just(RequestValidator(token + "x").compute_signature(signed_url, form)),
            texts,
        )
    )
    assert validate_signature(token, url, pairs, signature) == twilio.validate(url, form, signature)


algorithms = st.sampled_from([HMAC_SHA1, HMAC_SHA256, "hmac_sha256", "HMAC_MD5", ""])


@settings(max_examples=200, deadline=None)
@given(texts, urls(), st.dictionaries(texts, texts, max_size=4), algorithms, algorithms, texts)
def test_shared_key_algorithms_as_twilio(
    token: str, url: str, form: dict[str, str], signed_with: str, checked_with: str, garbage: str
) -> None:
    twilio = RequestValidator(token)
    signing = signed_with if signed_with.upper() in (HMAC_SHA1, HMAC_SHA256) else HMAC_SHA1
    signature = twilio.compute_signature(url, form, signing)
    assert compute_signature(token, url, form, algorithm=signing) == signature
    for candidate in (signature, garbage):
        expected = twilio.validate(url, form, candidate, checked_with or None)
        assert (
            validate_signature(token, url, form, candidate, algorithm=checked_with or HMAC_SHA1) == expected
        )


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "key=abc",
        "key=abc,algorithm=HMAC_SHA256",
        " algorithm = HMAC_SHA1 ,key=x",
        "algorithm=",
        "algorithm",
        "x=1,algorithm=foo",
    ],
)
def test_the_settings_header_as_twilio(header: str | None) -> None:
    assert signature_algorithm(header) == get_signature_algorithm(header)


def test_an_unknown_algorithm_cannot_sign() -> None:
    with pytest.raises(ValueError, match="algorithm"):
        compute_signature(TOKEN, "https://h.example/a", algorithm="HMAC_MD5")


def test_a_form_webhook() -> None:
    url = "https://voice.example.com/twilio/voice?agent=front-desk"
    form = {"CallSid": "CA1", "From": "+15550100", "To": "+15550199", "Caller": "+15550100"}
    signature = RequestValidator(TOKEN).compute_signature(url, form)
    assert validate_signature(TOKEN, url, form, signature)
    assert validate_signature(TOKEN, url, form.items(), signature)
    assert not validate_signature(TOKEN, url, {**form, "To": "+15550198"}, signature)
    assert not validate_signature(TOKEN, url.replace("https", "http"), form, signature)
    assert not validate_signature("another token", url, form, signature)


def test_a_websocket_upgrade_is_signed_over_wss_with_no_params() -> None:
    url = "wss://voice.example.com/twilio/stream/abc.def"
    signature = RequestValidator(TOKEN).compute_signature(url, {})
    assert validate_signature(TOKEN, url, (), signature)
    assert not validate_signature(TOKEN, url.replace("wss", "https"), (), signature)  # twilio-aspnet #162
    assert validate_signature(TOKEN, "wss://voice.example.com:80/twilio/stream/abc.def", (), signature)


@pytest.mark.parametrize(
    ("signed", "checked"),
    [
        ("https://h.example/twilio/voice", "https://h.example/twilio/voice/"),
        ("https://h.example/twilio/voice/", "https://h.example/twilio/voice"),
        ("https://h.example/twilio/voice", "https://h.example//twilio/voice"),
        ("https://h.example/twilio/voice?a=1", "https://h.example/twilio/voice"),
        ("https://h.example/twilio/voice", "https://H.example/twilio/voice"),
    ],
)
def test_paths_must_match_exactly_as_in_twilio(signed: str, checked: str) -> None:
    # No normalisation of slashes, query or host case: configure the webhook URL exactly as routed.
    signature = compute_signature(TOKEN, signed, {"a": "1"})
    assert validate_signature(TOKEN, checked, {"a": "1"}, signature) is False
    assert RequestValidator(TOKEN).validate(checked, {"a": "1"}, signature) is False
    assert validate_signature(TOKEN, signed, {"a": "1"}, signature) is True


@pytest.mark.parametrize("url", ["https://host:99999/a", "https://[::1/a", "http://host:port/"])
def test_an_unparsable_url_never_validates(url: str) -> None:
    assert not validate_signature(TOKEN, url, (), compute_signature(TOKEN, url))


@pytest.mark.parametrize("signature", ["", "é", "\udcff", "x" * 1000])
def test_any_header_value_is_compared_safely(signature: str) -> None:
    assert not validate_signature(TOKEN, "https://h.example/a", (), signature)


@pytest.mark.parametrize(
    ("base", "http", "websocket"),
    [
        (
            "https://voice.example.com",
            "https://voice.example.com/twilio/voice",
            "wss://voice.example.com/twilio/stream/t",
        ),
        (
            "https://voice.example.com/",
            "https://voice.example.com/twilio/voice",
            "wss://voice.example.com/twilio/stream/t",
        ),
        (
            "https://ex.com:8443/gw//",
            "https://ex.com:8443/gw/twilio/voice",
            "wss://ex.com:8443/gw/twilio/stream/t",
        ),
        (
            "http://127.0.0.1:8000",
            "http://127.0.0.1:8000/twilio/voice",
            "ws://127.0.0.1:8000/twilio/stream/t",
        ),
    ],
)
def test_public_urls(base: str, http: str, websocket: str) -> None:
    public = PublicURL(base)
    assert public.http("/twilio/voice") == http
    assert public.http("/twilio/voice", "a=1&b=%20") == http + "?a=1&b=%20"
    assert public.websocket("/twilio/stream/t") == websocket
    assert public.base == http.removesuffix("/twilio/voice")


def test_behind_a_proxy_the_public_url_is_what_validates() -> None:
    public = PublicURL("https://voice.example.com")
    url = public.websocket("/twilio/stream/tok")
    signature = RequestValidator(TOKEN).compute_signature("wss://voice.example.com/twilio/stream/tok", {})
    assert validate_signature(TOKEN, url, (), signature)
    assert not validate_signature(
        TOKEN, "ws://10.0.0.7:8000/twilio/stream/tok", (), signature
    )  # what the app sees


@pytest.mark.parametrize(
    "base",
    [
        "voice.example.com",
        "ftp://x.example",
        "wss://x.example",
        "https://",
        "https://u:p@x.example",
        "https://x.example/?a=1",
        "https://x.example/#f",
        "https://x.example/;p",
        "https://x.example:99999",
        "https://x.example:port",
    ],
)
def test_bad_public_urls(base: str) -> None:
    with pytest.raises(ConfigurationError, match="PUBLIC_URL"):
        PublicURL(base)


def test_paths_start_with_a_slash() -> None:
    public = PublicURL("https://x.example")
    for build in (public.http, public.websocket):
        with pytest.raises(ValueError, match="path"):
            build("twilio/voice")
