"""Tools for support staff.

    auth         console accounts (scrypt), logins with a failure limit, sessions
    transcripts  a chat's transcript and the list of conversations (CLI and console)
    masking      what an agent sees by default: ID, phone and card numbers, names masked
    web/         the web console (`restructure-bot support`): Starlette routes, templates
"""
