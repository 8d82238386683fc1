"""E-mail: an outbox of mails written with the change that causes them, sent by the worker.

``rows``: the mail rows (the voucher mail as a step of every delivery's plan, other mails in a
transaction of their own) and their jobs; ``render``: subjects and bodies (Jinja2, text and
HTML); ``content``: a mail's message as it is sent or shown, from its row; ``links``: the signed
links mails carry; ``mailbox``: the staging mailbox; ``requests``: the count of requests for a
mailed link.
"""
