"""Rule modules, one per concern. Each exports RULES; ALL_RULES gathers them."""
from policies.rules import sessions

ALL_RULES = [*sessions.RULES]
