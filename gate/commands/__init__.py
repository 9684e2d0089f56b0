"""The `stateless-pack` subcommands, one module each."""
