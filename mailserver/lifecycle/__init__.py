"""Leavers and unit mailboxes (memo 4.1, 4.3): the sweep and the HR feed, carried out.

The decisions are pure and live elsewhere (`policy.lifecycle` for the sweep,
`hrfeed` here for the HR file); these modules read the directory, apply the
plan, send the mails through the queue and write the audit trail:

    state.py     what earlier sweeps did (a small JSON file, written atomically)
    mail.py      the warning to a departing user and the orphan report
    sweep.py     one sweep, and the periodic sweep `serve` runs
    hrfeed.py    the HR CSV: parse and plan (pure)
    apply.py     apply an HR feed plan to the directory
    commands.py  `mailserver lifecycle sweep | apply`
"""
