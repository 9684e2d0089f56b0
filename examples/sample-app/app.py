"""A sample application on the paved road's contract: any instance serves any request.

It reads only what the components give an `Application` (see README "Using the components"):

- sessions: server-side, in the session store. Replicated store: `REDIS_SENTINELS` ("host:port",
  comma-separated if several) and `REDIS_MASTER_NAME`; the client asks the Sentinels for the master
  and asks again after a failover. Single-instance or external store: `REDIS_HOST`/`REDIS_PORT`.
  The password is read from the file at `REDIS_PASSWORD_FILE`. The browser holds only a session id.
- uploads: the bucket's `UPLOADS_BUCKET_HOST`, `UPLOADS_BUCKET_PORT`, `UPLOADS_BUCKET_NAME`,
  `UPLOADS_BUCKET_REGION` (the provisioner's ConfigMap, prefixed) and the keys `AWS_ACCESS_KEY_ID`
  and `AWS_SECRET_ACCESS_KEY` as files in the folder `UPLOADS_S3_KEYS_DIR`. Uploads stream to the
  bucket; nothing is written to the local disk except what the web server spools to the bounded
  `/tmp` for a large request body.

`SESSION_BACKEND=filesystem` keeps sessions in files under /tmp instead: the stateful anti-pattern
the paved road exists to prevent (each instance sees only its own sessions). It is here so that
the end-to-end test can show its assertions fail on a stateful app (tests/e2e/).

Run: `python app.py` (PORT, default 8080; BIND, default 0.0.0.0); in an image, a WSGI server such
as `gunicorn 'app:create_app()'`.
"""
from __future__ import annotations

import os
import socket
import tempfile
import uuid
from pathlib import Path
from typing import Mapping

import boto3
import redis
from botocore.config import Config
from cachelib.file import FileSystemCache
from flask import Flask, Response, jsonify, request, session
from flask_session import Session
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel
from werkzeug.utils import secure_filename

BUCKET_PREFIX = "UPLOADS_"          # the ObjectBucket named "uploads"
MAX_UPLOAD_BYTES = 16 * 1024 * 1024
# Fail fast and let the client retry: a request must not hang through a whole failover.
QUICK = {"socket_timeout": 2, "socket_connect_timeout": 1, "retry": Retry(ExponentialBackoff(cap=0.5, base=0.1), 2)}


def read_secret(path: str | os.PathLike) -> str:
    return Path(path).read_text(encoding="utf-8").strip()


def sentinel_addresses(value: str) -> list:
    """'a:26379,b:26379' -> [('a', 26379), ('b', 26379)]."""
    addresses = []
    for item in value.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"REDIS_SENTINELS: {item!r} is not host:port")
        addresses.append((host, int(port)))
    return addresses


def session_store(env: Mapping[str, str]) -> redis.Redis:
    """The Redis client for sessions: through the Sentinels when the store is replicated."""
    password = read_secret(env["REDIS_PASSWORD_FILE"])
    if env.get("REDIS_SENTINELS"):
        sentinels = Sentinel(sentinel_addresses(env["REDIS_SENTINELS"]),
                             sentinel_kwargs={"password": password, **QUICK}, password=password, **QUICK)
        return sentinels.master_for(env["REDIS_MASTER_NAME"])
    return redis.Redis(host=env["REDIS_HOST"], port=int(env["REDIS_PORT"]), password=password, **QUICK)


def bucket(env: Mapping[str, str], prefix: str = BUCKET_PREFIX) -> tuple:
    """(S3 client, bucket name) from the bucket's env and key files."""
    port = env.get(f"{prefix}BUCKET_PORT") or "443"
    scheme = "https" if port == "443" else "http"
    keys = Path(env[f"{prefix}S3_KEYS_DIR"])
    client = boto3.client(
        "s3", endpoint_url=f"{scheme}://{env[f'{prefix}BUCKET_HOST']}:{port}",
        region_name=env.get(f"{prefix}BUCKET_REGION") or "us-east-1",
        aws_access_key_id=read_secret(keys / "AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=read_secret(keys / "AWS_SECRET_ACCESS_KEY"),
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}))
    return client, env[f"{prefix}BUCKET_NAME"]


def _session_config(env: Mapping[str, str]) -> dict:
    if env.get("SESSION_BACKEND", "redis") == "filesystem":  # the anti-pattern, see the module doc
        folder = Path(env.get("TMPDIR") or tempfile.gettempdir()) / "sessions"
        return {"SESSION_TYPE": "cachelib", "SESSION_CACHELIB": FileSystemCache(str(folder), threshold=500)}
    return {"SESSION_TYPE": "redis", "SESSION_REDIS": session_store(env)}


def create_app(env: Mapping[str, str] = os.environ) -> Flask:
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=MAX_UPLOAD_BYTES, SESSION_PERMANENT=False,
                      SESSION_KEY_PREFIX="session:", **_session_config(env))
    Session(app)
    s3, bucket_name = bucket(env)
    instance = env.get("INSTANCE_NAME") or f"{socket.gethostname()}:{os.getpid()}"

    @app.after_request
    def tag(response: Response) -> Response:
        response.headers["X-Instance"] = instance  # which instance answered (the tests look)
        return response

    @app.errorhandler(redis.RedisError)
    def store_unavailable(exc):  # e.g. during a failover: the client may retry on any instance
        return jsonify(error=f"session store unavailable: {type(exc).__name__}"), 503

    @app.post("/login")
    def login():
        session["user"] = (request.get_json(silent=True) or {}).get("user") or "anonymous"
        session["files"] = []
        return jsonify(user=session["user"])

    @app.get("/me")
    def me():
        return jsonify(user=session.get("user"), files=session.get("files", []))

    @app.post("/files")
    def upload():
        if "user" not in session:
            return jsonify(error="sign in first"), 401
        upload = request.files.get("file")
        if upload is None:
            return jsonify(error="no file"), 400
        key = f"{session['user']}/{uuid.uuid4().hex}/{secure_filename(upload.filename or 'upload')}"
        s3.upload_fileobj(upload.stream, bucket_name, key)  # streamed: nothing kept here
        session["files"] = [*session.get("files", []), key]
        return jsonify(key=key), 201

    @app.get("/files/<path:key>")
    def download(key: str):
        if key not in session.get("files", []):
            return jsonify(error="not one of your files"), 404
        body = s3.get_object(Bucket=bucket_name, Key=key)["Body"]
        return Response(body.iter_chunks(64 * 1024), mimetype="application/octet-stream")

    @app.get("/ready")
    def ready():
        if env.get("SESSION_BACKEND", "redis") != "filesystem":
            app.config["SESSION_REDIS"].ping()
        s3.head_bucket(Bucket=bucket_name)
        return jsonify(ready=True)

    @app.get("/live")
    def live():
        return jsonify(live=True)

    return app


if __name__ == "__main__":
    create_app().run(host=os.environ.get("BIND", "0.0.0.0"), port=int(os.environ.get("PORT", "8080")),
                     threaded=True)
