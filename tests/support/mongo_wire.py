"""A scripted MongoDB for the db checks' tests: the real pymongo driver, over a real socket.

No MongoDB server exists here, so this stands in for one (the only mock in these tests):
``mockupdb`` speaks the wire protocol (OP_MSG) on 127.0.0.1 and every command the driver
sends is answered by ``WireMongo._answer`` with replies shaped like MongoDB 7's. Anything
not scripted gets a "no such command" error rather than blocking, except commands named in
``hang``, which are never answered (to test timeouts). Credentials are checked with a real
SCRAM-SHA-256 exchange, so a test can prove the password was used and never leaked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

from mockupdb import MockupDB

MAX_WIRE_VERSION = 21  # MongoDB 7.0
SCRAM_ITERATIONS = 4096
Plan = dict[str, Any]

# --- plan stages, as MongoDB 7 prints them -----------------------------------------------


def collscan(filter_: dict[str, Any] | None = None) -> Plan:
    return {"stage": "COLLSCAN", "filter": filter_ or {}, "direction": "forward"}


def ixscan(name: str, key: dict[str, int]) -> Plan:
    return {
        "stage": "IXSCAN",
        "keyPattern": key,
        "indexName": name,
        "isMultiKey": False,
        "multiKeyPaths": {k: [] for k in key},
        "isUnique": False,
        "isSparse": False,
        "isPartial": False,
        "indexVersion": 2,
        "direction": "forward",
        "indexBounds": {k: ["[MinKey, MaxKey]"] for k in key},
    }


def fetch(input_stage: Plan) -> Plan:
    return {"stage": "FETCH", "inputStage": input_stage}


def sort(pattern: dict[str, int], input_stage: Plan) -> Plan:
    return {
        "stage": "SORT",
        "sortPattern": pattern,
        "memLimit": 104857600,
        "type": "simple",
        "inputStage": input_stage,
    }


def _planner(ns: str, winning: Plan) -> dict[str, Any]:
    return {
        "namespace": ns,
        "indexFilterSet": False,
        "parsedQuery": {},
        "queryHash": "8E8D41F7",
        "planCacheKey": "4D3C2B1A",
        "maxIndexedOrSolutionsReached": False,
        "maxIndexedAndSolutionsReached": False,
        "maxScansToExplodeReached": False,
        "winningPlan": winning,
        "rejectedPlans": [],
    }


def explain_classic(ns: str, plan: Plan) -> dict[str, Any]:
    return {
        "explainVersion": "1",
        "queryPlanner": _planner(ns, plan),
        "serverInfo": {"host": "db-0", "port": 27017, "version": "7.0.12"},
    }


def explain_sbe(ns: str, plan: Plan) -> dict[str, Any]:
    """The slot-based engine's shape: the stage tree sits under ``queryPlan``."""
    winning = {
        "queryPlan": plan,
        "slotBasedPlan": {"slots": "$$RESULT=s5 env: { s1 = ... }", "stages": "[2] sort ..."},
    }
    return {
        "explainVersion": "2",
        "queryPlanner": _planner(ns, winning),
        "serverInfo": {"host": "db-0", "port": 27017, "version": "7.0.12"},
    }


def explain_sharded(ns: str, shard_plans: dict[str, Plan]) -> dict[str, Any]:
    """What mongos answers: one winning plan per shard (each classic here)."""
    shards = [
        {
            "shardName": name,
            "connectionString": f"{name}/{name}-0:27018",
            "serverInfo": {"host": f"{name}-0", "port": 27018, "version": "7.0.12"},
            **_planner(ns, plan),
        }
        for name, plan in shard_plans.items()
    ]
    stage = "SINGLE_SHARD" if len(shards) == 1 else "SHARD_MERGE"
    return {
        "queryPlanner": {
            "mongosPlannerVersion": 1,
            "winningPlan": {"stage": stage, "shards": shards},
        },
        "serverInfo": {"host": "mongos-0", "port": 27017, "version": "7.0.12"},
    }


def index(name: str, key: dict[str, int], **extra: Any) -> dict[str, Any]:
    return {"v": 2, "key": key, "name": name, **extra}


def rw_concern(w: Any = "majority", source: str = "implicit") -> dict[str, Any]:
    """getDefaultRWConcern as MongoDB 7 answers it."""
    return {
        "defaultReadConcern": {"level": "local"},
        "defaultWriteConcern": {"w": w, "wtimeout": 0},
        "updateOpTime": {"ts": 0, "t": -1},
        "updateWallClockTime": None,
        "defaultWriteConcernSource": source,
        "defaultReadConcernSource": "implicit",
        "localUpdateWallClockTime": None,
    }


# --- the server ---------------------------------------------------------------------------


@dataclass
class WireMongo:
    """A scripted deployment. ``explains`` maps collection -> explain reply (or a callable
    taking the explained ``find``); ``indexes`` maps collection -> listIndexes docs (absent:
    NamespaceNotFound)."""

    replica_set: str | None = None
    mongos: bool = False
    explains: dict[str, Any] = field(default_factory=dict)
    indexes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    rw: dict[str, Any] | None = field(default_factory=rw_concern)
    hang: set[str] = field(default_factory=set)
    users: dict[str, str] = field(default_factory=dict)
    members: list[str] = field(default_factory=list)  # extra hosts a replica set announces
    primary: str | None = None  # another member announced as primary (this one: secondary)
    commands: list[str] = field(default_factory=list)
    closers: list[Callable[[], None]] = field(default_factory=list)  # run before stopping
    documents: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    _scram: dict[int, dict[str, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def uri(self, db: str = "shop", *, user: str | None = None, password: str = "") -> str:
        auth = f"{quote_plus(user)}:{quote_plus(password)}@" if user else ""
        return f"mongodb://{auth}{self.address}/{db}"

    def sent(self) -> list[str]:
        """Commands received, in order, without the driver's handshake and session chatter."""
        chatter = {"ismaster", "isMaster", "saslStart", "saslContinue", "endSessions"}
        return [c for c in self.commands if c not in chatter]

    def _hello(self) -> dict[str, Any]:
        reply: dict[str, Any] = {
            "isWritablePrimary": True,
            "ismaster": True,
            "maxBsonObjectSize": 16777216,
            "maxMessageSizeBytes": 48000000,
            "maxWriteBatchSize": 100000,
            "logicalSessionTimeoutMinutes": 30,
            "connectionId": 7,
            "minWireVersion": 0,
            "maxWireVersion": MAX_WIRE_VERSION,
            "readOnly": False,
        }
        if self.mongos:
            reply["msg"] = "isdbgrid"
        elif self.replica_set:
            primary = self.primary or self.address
            reply.update(
                setName=self.replica_set,
                setVersion=1,
                hosts=list(dict.fromkeys([self.address, primary, *self.members])),
                primary=primary,
                me=self.address,
                secondary=primary != self.address,
            )
            if primary != self.address:
                reply.update(isWritablePrimary=False, ismaster=False)
        if self.users:
            reply["saslSupportedMechs"] = ["SCRAM-SHA-256"]
        return reply

    def _server_status(self) -> dict[str, Any]:
        """The parts of MongoDB 7's serverStatus the load drill samples."""
        served = len(self.commands)
        return {
            "host": self.address,
            "version": "7.0.14",
            "process": "mongod",
            "uptime": 3600.0,
            "connections": {"current": 12, "available": 838848, "totalCreated": 40},
            "globalLock": {"currentQueue": {"total": 0, "readers": 0, "writers": 0}},
            "mem": {"bits": 64, "resident": 180, "virtual": 2900},
            "opcounters": {"insert": 3, "query": served, "update": 1, "delete": 0,
                           "getmore": 0, "command": served},
        }  # fmt: skip

    def _answer(self, request: Any) -> bool:
        doc = dict(request.doc)
        name = next(iter(doc), "")
        with self._lock:
            self.commands.append(name)
            self.documents.append(doc)
        if name in self.hang:
            return False  # left unanswered: the client times out
        if name.lower() in ("ismaster", "hello"):
            return bool(request.ok(self._hello()))
        if name in ("saslStart", "saslContinue"):
            return self._sasl(request, name, doc)
        if name == "endSessions":
            return bool(request.ok())
        if name == "explain" and doc["explain"].get("find") in self.explains:
            reply = self.explains[doc["explain"]["find"]]
            return bool(request.ok(reply(doc["explain"]) if callable(reply) else reply))
        if name == "listIndexes":
            coll = doc["listIndexes"]
            if coll not in self.indexes:
                return bool(
                    request.command_err(26, f"ns does not exist: shop.{coll}", "NamespaceNotFound")
                )
            batch = self.indexes[coll]
            return bool(request.ok(cursor={"id": 0, "ns": f"shop.{coll}", "firstBatch": batch}))
        if name == "getDefaultRWConcern" and self.rw is not None:
            return bool(request.ok(self.rw))
        if name == "serverStatus":
            return bool(request.ok(self._server_status()))
        return bool(request.command_err(59, f"no such command: '{name}'", "CommandNotFound"))

    # SCRAM-SHA-256 (RFC 7677), server side, so credentials are really exchanged.
    def _sasl(self, request: Any, name: str, doc: dict[str, Any]) -> bool:
        payload = bytes(doc["payload"]).decode()
        if name == "saslStart":
            bare = payload.split(",", 2)[2]
            attrs = dict(p.split("=", 1) for p in bare.split(","))
            password = self.users.get(attrs["n"])
            if password is None:
                return bool(
                    request.command_err(18, "Authentication failed.", "AuthenticationFailed")
                )
            salt = os.urandom(16)
            nonce = attrs["r"] + base64.b64encode(os.urandom(18)).decode()
            first = f"r={nonce},s={base64.b64encode(salt).decode()},i={SCRAM_ITERATIONS}"
            salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, SCRAM_ITERATIONS)
            conversation = len(self._scram) + 1
            self._scram[conversation] = {"bare": bare, "first": first, "salted": salted}
            return bool(request.ok(conversationId=conversation, done=False, payload=first.encode()))
        state = self._scram[int(doc["conversationId"])]
        without_proof, _, proof = payload.rpartition(",p=")
        auth_message = f"{state['bare']},{state['first']},{without_proof}".encode()
        client_key = hmac.digest(state["salted"], b"Client Key", "sha256")
        signature = hmac.digest(hashlib.sha256(client_key).digest(), auth_message, "sha256")
        expected = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        if not hmac.compare_digest(expected, base64.b64decode(proof)):
            return bool(request.command_err(18, "Authentication failed.", "AuthenticationFailed"))
        server_key = hmac.digest(state["salted"], b"Server Key", "sha256")
        verifier = base64.b64encode(hmac.digest(server_key, auth_message, "sha256"))
        return bool(
            request.ok(conversationId=doc["conversationId"], done=True, payload=b"v=" + verifier)
        )


_RUNNING: list[WireMongo] = []


def close_before_stop(callback: Callable[[], None]) -> bool:
    """Run ``callback`` (e.g. closing a client) before the innermost running server stops:
    a client closed after its server is gone waits out server selection to end its sessions.
    """
    if not _RUNNING:
        return False
    _RUNNING[-1].closers.append(callback)
    return True


@contextmanager
def running(mongo: WireMongo) -> Iterator[WireMongo]:
    """Serve ``mongo`` on 127.0.0.1 until the block ends."""
    server = MockupDB(port=None, max_wire_version=MAX_WIRE_VERSION, request_timeout=5)
    server._address = ("127.0.0.1", 0)  # mockupdb binds "localhost"; pin IPv4 loopback
    server.autoresponds(mongo._answer)
    mongo.port = server.run()
    _RUNNING.append(mongo)
    try:
        yield mongo
    finally:
        _RUNNING.remove(mongo)
        for callback in mongo.closers:
            callback()
        server.stop()
