"""The pure account policy of the mail server: facts in, a `Decision` out.

`decide(account, request, now, settings)` is consulted on every login, send and inbound
delivery; `bad_credentials()` and `directory_unavailable(action)` give the answers for a
failed authentication and for a directory that cannot be reached (fail closed).
"""

from policy.engine import bad_credentials, decide, directory_unavailable

__all__ = ["bad_credentials", "decide", "directory_unavailable"]
