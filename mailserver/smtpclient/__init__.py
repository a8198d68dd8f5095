"""The SMTP client (RFC 5321, the client side) that the queue delivers remote mail with.

A package of its own, beside the SMTP server package (the `smtp` package: the aiosmtpd
handlers) and not inside it, as mox keeps `smtpclient` apart from `smtpserver`: the
queue sits below the servers and must not import them, and the client shares nothing
with the handlers. tests/unit/test_layering.py fails if the queue or this package
imports the server package, directly or through another module.
`deliver` (in client.py) is the entry point.
"""

from mailserver.smtpclient.client import Outcome, Target, TlsPolicy, deliver, parse_smarthost

__all__ = ["Outcome", "Target", "TlsPolicy", "deliver", "parse_smarthost"]
