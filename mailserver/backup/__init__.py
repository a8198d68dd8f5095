"""Backups of an account's mail (memo 4.1): `mailserver export ACCOUNT`.

export.py     walks the account's folders and writes the archive (atomically)
mbox.py       one message in mboxrd form, with its flags as Status / X-Status fields
tarstream.py  a gzip'd pax tar written member by member, nothing kept in memory
progress.py   the progress bar on a terminal
"""
