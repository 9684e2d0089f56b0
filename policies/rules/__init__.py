"""One module per rule (each defines `RULE`), plus the helpers they share (no `RULE`).

`policies/catalog.py` gathers them; adding a rule is adding a file here."""
