"""POP3 (RFC 1939) with CAPA, STLS, UIDL, TOP and SASL PLAIN, on the IMAP store and policy."""
