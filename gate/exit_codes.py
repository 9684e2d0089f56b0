"""What the `stateless-pack` commands exit with: a pipeline decides on these alone.

0 clean or advisory only; 1 blocking findings; 2 the program, the pack, Checkov or the command itself
failed (a crash, a signal, a timeout, unusable input): never a pass.
"""
EXIT_CLEAN, EXIT_BLOCKED, EXIT_FAILED = 0, 1, 2
