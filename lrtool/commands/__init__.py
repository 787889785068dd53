"""One module per command: the orchestration behind `lrtool <command>`, returning typed results.

The CLI parses options, makes one call here and prints what comes back; nothing in this package
prints except through the callbacks the caller passes in.
"""
