"""The embedded Kafka: librdkafka's mock cluster, driven through ctypes.

The confluent-kafka wheel ships librdkafka, and librdkafka ships a mock cluster: real brokers that
speak the Kafka protocol over TCP on 127.0.0.1. aiokafka and FastStream connect to it unchanged.
It keeps data in memory only (at most 5 MiB per partition), so it is for development and tests,
never production. Where it differs from Kafka (no broker-side dedup for plain idempotent producers,
an empty fetch waits the full fetch_max_wait_ms, no CreateTopics API, no TLS, no replication):
docs/architecture.md, "Embedded parts for development, real ones in production".

The cluster lives inside the process that creates it, on librdkafka's own threads.
"""

from __future__ import annotations

import ctypes
import glob
from collections.abc import Iterable
from pathlib import Path

import confluent_kafka

# A Kafka protocol API key and a librdkafka error code (rdkafka.h), for fault injection.
PRODUCE = 0
ERR_NOT_LEADER_OR_FOLLOWER = 6

_RD_KAFKA_PRODUCER = 0


def _load_library() -> ctypes.CDLL:
    libs = Path(confluent_kafka.__file__).parent.parent / "confluent_kafka.libs"
    candidates = sorted(glob.glob(str(libs / "librdkafka*.so*")))
    if not candidates:
        raise RuntimeError(f"librdkafka not found in {libs}: is confluent-kafka installed?")
    lib = ctypes.CDLL(candidates[0])
    lib.rd_kafka_conf_new.restype = ctypes.c_void_p
    lib.rd_kafka_conf_set.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_size_t,
    ]
    lib.rd_kafka_new.restype = ctypes.c_void_p
    lib.rd_kafka_new.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.rd_kafka_destroy.argtypes = [ctypes.c_void_p]
    lib.rd_kafka_mock_cluster_new.restype = ctypes.c_void_p
    lib.rd_kafka_mock_cluster_new.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.rd_kafka_mock_cluster_destroy.argtypes = [ctypes.c_void_p]
    lib.rd_kafka_mock_cluster_bootstraps.restype = ctypes.c_char_p
    lib.rd_kafka_mock_cluster_bootstraps.argtypes = [ctypes.c_void_p]
    lib.rd_kafka_mock_topic_create.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_int,
    ]
    lib.rd_kafka_mock_broker_set_down.argtypes = [ctypes.c_void_p, ctypes.c_int32]
    lib.rd_kafka_mock_broker_set_up.argtypes = [ctypes.c_void_p, ctypes.c_int32]
    lib.rd_kafka_mock_push_request_errors_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_int16,
        ctypes.c_size_t,
        ctypes.POINTER(ctypes.c_int),
    ]
    lib.rd_kafka_mock_clear_request_errors.argtypes = [ctypes.c_void_p, ctypes.c_int16]
    lib.rd_kafka_mock_group_initial_rebalance_delay_ms.argtypes = [ctypes.c_void_p, ctypes.c_int32]
    return lib


class MockKafkaCluster:
    """A running librdkafka mock cluster with brokers 1..N on loopback.

    >>> cluster = MockKafkaCluster(brokers=3)
    >>> cluster.create_topics(["livskraft.registry.network-created.v1"], partitions=3)
    >>> cluster.bootstrap_servers  # '127.0.0.1:40123,127.0.0.1:40125,...'
    >>> cluster.close()
    """

    def __init__(self, brokers: int = 3) -> None:
        self._lib = _load_library()
        errbuf = ctypes.create_string_buffer(512)
        conf = self._lib.rd_kafka_conf_new()
        # The handle that owns the cluster needs no brokers of its own.
        self._lib.rd_kafka_conf_set(conf, b"client.id", b"livskraft-mock-cluster", errbuf, 512)
        self._lib.rd_kafka_conf_set(conf, b"log_level", b"3", errbuf, 512)  # no 'no bootstrap' notice
        self._rk = self._lib.rd_kafka_new(_RD_KAFKA_PRODUCER, conf, errbuf, 512)
        if not self._rk:
            raise RuntimeError(f"rd_kafka_new failed: {errbuf.value.decode()}")
        self._mc = self._lib.rd_kafka_mock_cluster_new(self._rk, brokers)
        if not self._mc:
            self._lib.rd_kafka_destroy(self._rk)
            raise RuntimeError("rd_kafka_mock_cluster_new failed")
        self.brokers = brokers
        # The mock waits 3 s before a group's first rebalance; Kafka's own tests set it to 0 too.
        self._lib.rd_kafka_mock_group_initial_rebalance_delay_ms(self._mc, 0)
        self.bootstrap_servers: str = self._lib.rd_kafka_mock_cluster_bootstraps(self._mc).decode()

    def create_topics(
        self, topics: Iterable[str], partitions: int = 3, replication_factor: int | None = None
    ) -> None:
        """Create topics (the mock has no CreateTopics API). Creating an existing one is a no-op."""
        rf = replication_factor or min(3, self.brokers)
        for topic in topics:
            self._lib.rd_kafka_mock_topic_create(self._mc, topic.encode(), partitions, rf)

    def set_broker_down(self, broker_id: int) -> None:
        """Disconnect a broker and refuse new connections (-1: all). Leadership does not move."""
        self._check(self._lib.rd_kafka_mock_broker_set_down(self._mc, broker_id))

    def set_broker_up(self, broker_id: int) -> None:
        self._check(self._lib.rd_kafka_mock_broker_set_up(self._mc, broker_id))

    def push_request_errors(self, api_key: int, errors: list[int]) -> None:
        """The next len(errors) requests of api_key fail with these error codes, in order."""
        arr = (ctypes.c_int * len(errors))(*errors)
        self._lib.rd_kafka_mock_push_request_errors_array(self._mc, api_key, len(errors), arr)

    def clear_request_errors(self, api_key: int) -> None:
        self._lib.rd_kafka_mock_clear_request_errors(self._mc, api_key)

    def close(self) -> None:
        if self._mc:
            self._lib.rd_kafka_mock_cluster_destroy(self._mc)
            self._lib.rd_kafka_destroy(self._rk)
            self._mc = None
            self._rk = None

    def __enter__(self) -> MockKafkaCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _check(err: int) -> None:
        if err != 0:
            raise RuntimeError(f"librdkafka mock call failed with error {err}")
