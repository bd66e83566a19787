"""Schemathesis hooks of tests/api-fuzz/run, loaded with SCHEMATHESIS_HOOKS=hooks.

POST /api/v1/runtimes takes a runtime component as raw `application/wasm` bytes, a media
type Schemathesis does not generate by itself. The bodies drawn here are what a careless
or hostile uploader sends: random bytes, the WebAssembly component preamble followed by
random bytes (a truncated or corrupt component), and nothing at all.
"""

import schemathesis
from hypothesis import strategies as st

# The magic and the component-model version/layer of a WebAssembly component.
COMPONENT_PREAMBLE = b"\x00asm\x0d\x00\x01\x00"

schemathesis.openapi.media_type(
    "application/wasm",
    st.one_of(
        st.binary(max_size=4096),
        st.binary(max_size=4096).map(lambda tail: COMPONENT_PREAMBLE + tail),
        st.just(b""),
    ),
)
