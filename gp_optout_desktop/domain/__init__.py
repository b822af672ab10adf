"""Pure domain rules: identifiers, codes, objection events, current state, roles.

Nothing here imports Qt, SQL or touches files (the code table is handed in as text).
"""
