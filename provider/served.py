"""The components as the provider serves them: type tokens in the provider's package, and the one
argument a program in another language passes differently.

A component provider takes no component as an argument, so `ApplicationInputs` takes the `connection`
outputs of the session store and the buckets where Python also takes the components themselves.
Everything else is the Python classes' own: fields, defaults, docstrings and checks.
"""
from typing import Optional, Sequence

import pulumi

from stateless_pack import components
from stateless_pack.components.connections import BucketConnection, SessionStoreConnection

PACKAGE = "stateless-pack"


def type_token(component: type) -> str:
    """`stateless-pack:index:<Component>`: the schema's token (Python programs keep `stateless-pack:components:...`)."""
    return f"{PACKAGE}:index:{component.__name__}"


class ApplicationInputs(components.ApplicationArgs):
    """`ApplicationArgs` as a program in any language passes them."""

    session_store: Optional[pulumi.Input[SessionStoreConnection]] = None
    """The `connection` output of the RedisSessionStore the instances share: wired in by reference to its
    ConfigMap and Secret."""
    buckets: Optional[Sequence[pulumi.Input[BucketConnection]]] = None
    """The `connection` outputs of the ObjectBuckets the application keeps its files in: wired in by reference."""


class Application(components.Application):
    __doc__ = components.Application.__doc__
    _type_token = type_token(components.Application)

    def __init__(self, name: str, args: ApplicationInputs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(name, args, opts)


class RedisSessionStore(components.RedisSessionStore):
    __doc__ = components.RedisSessionStore.__doc__
    _type_token = type_token(components.RedisSessionStore)


class ObjectBucket(components.ObjectBucket):
    __doc__ = components.ObjectBucket.__doc__
    _type_token = type_token(components.ObjectBucket)


SERVED = (Application, RedisSessionStore, ObjectBucket)
