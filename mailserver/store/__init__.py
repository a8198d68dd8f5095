"""Mailbox storage. `maildir.MaildirStore` is the built-in, Dovecot-compatible store."""
