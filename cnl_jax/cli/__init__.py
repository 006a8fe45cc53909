"""The command-line programs, all through one harness (`harness`): `cnl-jax COMMAND`.

train (`python main.py`), eval, predict, visualize, export, summary and lite. `parsers` holds
every command line; `<command>.py` runs one after its flags are parsed.
"""
