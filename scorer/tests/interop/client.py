"""A third-party client of Aegis: Confluent's Python client (confluent-kafka) and fastavro, nothing of
Aegis's code. Frames messages as the Avro specification's single-object encoding says (0xC3 0x01,
the CRC-64-AVRO fingerprint of the schema's Parsing Canonical Form, little-endian, then the body)
from the schema files alone, and partitions keys as the Java client does (murmur2).

    client.py produce-transactions BROKERS TOPIC N      # N PaySim transactions, key = name_orig
    client.py read-verdicts BROKERS TOPIC N             # prints each verdict as a JSON line
    client.py produce-labels BROKERS TOPIC TX_IDS...    # a label per "tx_id:account", fraud if odd

Run by scorer/tests/it/interop.rs; exits non-zero with one line on any failure.
"""

import io
import json
import struct
import sys
from pathlib import Path

import fastavro
from confluent_kafka import Consumer, Producer

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"


def schema(name):
    raw = json.loads((SCHEMAS / f"{name}.avsc").read_text())
    parsed = fastavro.parse_schema(raw)
    canonical = fastavro.schema.to_parsing_canonical_form(raw)
    fingerprint = bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))
    return parsed, fingerprint


def frame(name, record):
    parsed, fingerprint = schema(name)
    body = io.BytesIO()
    fastavro.schemaless_writer(body, parsed, record)
    return b"\xc3\x01" + fingerprint + body.getvalue()


def unframe(name, value):
    parsed, fingerprint = schema(name)
    if value[:2] != b"\xc3\x01" or value[2:10] != fingerprint:
        raise SystemExit(f"client.py: a {name} not framed with fastavro's fingerprint {fingerprint.hex()}: {value[:10].hex()}")
    return fastavro.schemaless_reader(io.BytesIO(value[10:]), parsed)


def producer(brokers):
    # The Java client's default partitioner: what Aegis's producers use.
    return Producer({"bootstrap.servers": brokers, "partitioner": "murmur2_random", "enable.idempotence": True})


def flush(p):
    if p.flush(30) != 0:
        raise SystemExit("client.py: messages not delivered within 30 s")


def produce_transactions(brokers, topic, n):
    p = producer(brokers)
    for i in range(n):
        account = f"C9{i:04d}"
        amount = 100.0 + i
        tx = {
            "tx_id": f"py-{i}",
            "event_time": 1_700_000_000_000 + i * 1000,
            "step": 1,
            "type": "TRANSFER" if i % 2 else "PAYMENT",
            "amount": amount,
            "name_orig": account,
            "old_balance_orig": amount,
            "new_balance_orig": 0.0,
            "name_dest": f"C8{i:04d}",
            "old_balance_dest": 0.0,
            "new_balance_dest": 0.0,
            "is_fraud": None,
        }
        p.produce(topic, key=account.encode(), value=frame("transaction", tx))
    flush(p)


def read_verdicts(brokers, topic, n):
    c = Consumer({"bootstrap.servers": brokers, "group.id": "py-interop", "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    seen = 0
    try:
        for _ in range(600):
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            v = unframe("verdict", m.value())
            v["partition"] = m.partition()
            v["key"] = m.key().decode()
            print(json.dumps(v, default=str), flush=True)
            seen += 1
            if seen >= n:
                return
    finally:
        c.close()
    raise SystemExit(f"client.py: read {seen} verdicts of {n}")


def produce_labels(brokers, topic, pairs):
    p = producer(brokers)
    for pair in pairs:
        tx_id, account = pair.split(":")
        label = {"tx_id": tx_id, "is_fraud": int(tx_id.split("-")[1]) % 2 == 1, "labelled_at": 1_700_000_100_000, "source": "chargeback"}
        p.produce(topic, key=account.encode(), value=frame("label", label))
    flush(p)


if __name__ == "__main__":
    command, brokers, topic, *rest = sys.argv[1:]
    if command == "produce-transactions":
        produce_transactions(brokers, topic, int(rest[0]))
    elif command == "read-verdicts":
        read_verdicts(brokers, topic, int(rest[0]))
    elif command == "produce-labels":
        produce_labels(brokers, topic, rest)
    else:
        raise SystemExit(f"client.py: unknown command {command}")
