"""SMTP on aiosmtpd: the submission listeners (587 STARTTLS, 465 implicit TLS)."""
