"""RedisSessionStore: the shared session store every instance of an application reaches.

Three modes (arguments and checks: components/session_store_args.py):
- replicated, the default: Redis replication with Sentinel, no volume, no waiver
  (components/redis_sentinel.py). Apps get REDIS_SENTINELS and REDIS_MASTER_NAME.
- single instance (`single_instance_waiver`): one Redis pod for development, behind a waiver for
  rule min-replicas (components/redis_single.py). Apps get REDIS_HOST and REDIS_PORT.
- external (`external`): no Redis at all, only the connection of an existing one (REDIS_HOST,
  REDIS_PORT).

Whatever the mode, an application receives a ConfigMap with the connection (`connection_keys`
names its keys) and a Secret key with the password; the Application component wires both in.
"""
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from stateless_pack.components import redis_sentinel, redis_single
from stateless_pack.components.connections import SessionStoreConnection
from stateless_pack.components.redis_pods import CLIENT_LABEL, labels_of, metadata
from stateless_pack.components.sentinel_config import SENTINEL_PORT
from stateless_pack.components.session_store_args import (PASSWORD_KEY, REDIS_PORT, RedisSessionStoreArgs,
                                                          validate)


class RedisSessionStore(pulumi.ComponentResource):
    """A Redis session store (replicated, single instance or external) and the connection apps read.

    Outputs: `password_secret_name`, `password_secret_key`, `config_map_name` (the connection),
    `host`/`port` (single instance and external; None when replicated), `sentinels` ("host:port")
    and `master_name` (replicated; None otherwise), and `connection`, all of it for an Application.
    Plain attributes: `connection_keys` (the ConfigMap's keys) and `client_labels` (the pod labels
    its NetworkPolicies admit). The password is never an output.
    """

    _type_token = "stateless-pack:components:RedisSessionStore"
    host: pulumi.Output[Optional[str]]
    """The Redis host (single instance and external modes)."""
    port: pulumi.Output[Optional[int]]
    """The Redis port (single instance and external modes)."""
    sentinels: pulumi.Output[Optional[str]]
    """The Sentinels' Service as host:port (replicated mode)."""
    master_name: pulumi.Output[Optional[str]]
    """The name the Sentinels know the master by (replicated mode)."""
    password_secret_name: pulumi.Output[str]
    """The Secret that holds the password."""
    password_secret_key: pulumi.Output[str]
    """The password's key in that Secret."""
    config_map_name: pulumi.Output[str]
    """The ConfigMap that holds the connection (REDIS_* keys)."""
    connection: SessionStoreConnection
    """What an Application needs to reach the store: pass it as the Application's `session_store`."""

    def __init__(self, name: str, args: RedisSessionStoreArgs,
                 opts: Optional[pulumi.ResourceOptions] = None):
        validate(name, args)
        super().__init__(self._type_token, name, None, opts)
        self.name = name
        self.namespace = args.namespace
        self.client_labels = {CLIENT_LABEL: name}
        child = pulumi.ResourceOptions(parent=self)
        connection, secret_name, secret_key = self._backend(name, args, child)
        self.connection_keys = tuple(connection)
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-connection", opts=child, data=connection,
            metadata=metadata(f"{name}-connection", args.namespace, labels_of(name, "redis", args.labels)))

        self.host = pulumi.Output.from_input(connection.get("REDIS_HOST"))
        self.port = pulumi.Output.from_input(int(connection["REDIS_PORT"]) if "REDIS_PORT" in connection else None)
        self.sentinels = pulumi.Output.from_input(connection.get("REDIS_SENTINELS"))
        self.master_name = pulumi.Output.from_input(connection.get("REDIS_MASTER_NAME"))
        self.password_secret_name = secret_name
        self.password_secret_key = pulumi.Output.from_input(secret_key)
        self.config_map_name = config_map.metadata.name
        self.connection = SessionStoreConnection(
            name=name, namespace=args.namespace, connection_keys=list(connection),
            config_map_name=self.config_map_name, password_secret_name=secret_name,
            password_secret_key=secret_key, client_labels=dict(self.client_labels))
        self.register_outputs({"host": self.host, "port": self.port, "sentinels": self.sentinels,
                               "master_name": self.master_name,
                               "password_secret_name": self.password_secret_name,
                               "password_secret_key": self.password_secret_key,
                               "config_map_name": self.config_map_name, "connection": self.connection})

    def _backend(self, name: str, args: RedisSessionStoreArgs,
                 child: pulumi.ResourceOptions) -> tuple[dict, pulumi.Output, str]:
        """(connection ConfigMap data, password Secret name, its key) of the mode the args select."""
        if args.external is not None:
            ext = args.external
            return ({"REDIS_HOST": ext.host, "REDIS_PORT": str(ext.port)},
                    pulumi.Output.from_input(ext.password_secret_name), ext.password_secret_key)
        if args.replicated:
            secret = redis_sentinel.build(name, args, self.client_labels, child)
            host = redis_sentinel.sentinel_host(name, args.namespace)
            return ({"REDIS_SENTINELS": f"{host}:{SENTINEL_PORT}", "REDIS_MASTER_NAME": name},
                    secret.metadata.name, PASSWORD_KEY)
        secret = redis_single.build(name, args, self.client_labels, child)
        return ({"REDIS_HOST": f"{name}.{args.namespace}.svc.cluster.local", "REDIS_PORT": str(REDIS_PORT)},
                secret.metadata.name, PASSWORD_KEY)
