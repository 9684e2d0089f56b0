"""Pulumi's wire markers (pulumi/runtime/rpc.py, sdk/go/common/resource/plugin/rpc.go): how the
engine marks secrets, resource references, assets and values unknown during preview. The program's
child process, the engine driver and the state export all speak them."""
from __future__ import annotations

SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"
ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"
# Values not known during preview, by type (pulumi_policy/proxy.py names the same ones).
UNKNOWN_SENTINELS = {
    "bool": "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
    "number": "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
    "string": "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
    "array": "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
    "asset": "030794c1-ac77-496b-92df-f27374a8bd58",
    "archive": "e48ece36-62e2-4504-bad9-02848725956a",
    "object": "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
}
UNKNOWN_VALUE = UNKNOWN_SENTINELS["string"]  # what the SDK's mocks hand back for any unknown
STACK_TYPE = "pulumi:pulumi:Stack"  # the root resource every program registers first
