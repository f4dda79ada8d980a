"""The throw-away Redis server and its fixture."""

from __future__ import annotations

import redis

from severa_ext.testing.redis_server import RedisServer


def test_redis_server_answers(redis_server):
    client = redis.Redis.from_url(redis_server.url(1))
    try:
        assert client.ping() is True
        client.set("k", "v")
        assert client.get("k") == b"v"
        assert redis.Redis.from_url(redis_server.url(2)).get("k") is None
        assert client.config_get("port") == {"port": "0"}
    finally:
        client.flushall()
        client.close()
    assert redis_server.kombu_url(3) == f"redis+socket://{redis_server.socket_path}?virtual_host=3"


def test_stop_removes_the_server():
    server = RedisServer.start()
    server.stop()
    assert not server.running
    assert not server.root.exists()
