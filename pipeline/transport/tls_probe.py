"""Why an endpoint's TLS certificate is not trusted, said at once.

awscrt (s2n) holds a failed TLS negotiation back 10-30 s before it reports it (s2n's
"blinding", against timing attacks), longer than the bucket check waits for an answer.
When that check hears nothing from an https endpoint, Python's ssl module asks the same
question, with the same trust store, in a few milliseconds.
"""

from __future__ import annotations

import socket
import ssl

_PROBE_TIMEOUT_S = 3.0


def certificate_problem(host: str, port: int, ca_bundle: str | None) -> str:
    """Why the certificate that ``host:port`` shows is not trusted (by ``ca_bundle``, else
    the system's CAs); '' when it is, or when the endpoint does not get that far."""
    context = ssl.create_default_context(cafile=ca_bundle)
    try:
        with (
            socket.create_connection((host, port), timeout=_PROBE_TIMEOUT_S) as sock,
            context.wrap_socket(sock, server_hostname=host),
        ):
            return ""
    except ssl.SSLCertVerificationError as e:
        return f"certificate verify failed: {e.verify_message}"
    except OSError:  # refused, silent, or another TLS failure: nothing more to say
        return ""
