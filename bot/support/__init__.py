"""Tools for support staff.

auth         console accounts (scrypt in worker threads), logins that back off, sessions
transcripts  a chat's transcript and the list of conversations (CLI and console)
masking      what an agent sees by default: ID, phone and card numbers (however written),
             e-mail addresses and names masked
web/         the web console (`restructure-bot support`): Starlette routes, templates
"""
