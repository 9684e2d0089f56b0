"""The provider's entry point: the engine runs `python <this folder> <engine address>` (PulumiPlugin.yaml,
runtime python), or `python -m stateless_pack.provider <engine address>`; it prints the port it serves on."""
from stateless_pack.provider.host import serve

if __name__ == "__main__":
    serve()
