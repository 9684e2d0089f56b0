"""The paved road from any Pulumi language: the components served by a Pulumi component provider.

The engine runs this folder (PulumiPlugin.yaml, runtime python; or `python -m stateless_pack.provider`)
to serve Application, RedisSessionStore and ObjectBucket to TypeScript, Go, C#, YAML and Python
programs, through a schema inferred from the components' own annotations and docstrings
(`schema.json` is that schema, as `GetSchema` answers it). `pulumi package add` generates an SDK
from it in the program's language.
"""
