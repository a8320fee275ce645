"""Publishes a few messages no Aegis producer would send, so the scorers dead-letter them.

  python deploy/checks/dead_letters.py --brokers 127.0.0.1:9092 [--topic transactions] [--every S]

Used by scripts/check-dashboards so that the dashboard's DLQ panel shows real reasons, not only the
zeros the scorers start with. One message per kind of damage: empty, not Avro at all, a truncated
single-object header, and a Confluent-framed body for a schema id no registry gave out. With
--every, again every S seconds until stopped, so that the DLQ rate stays above zero.

Idempotent producer on purpose: tansu 0.6 assigns clashing offsets when a non-idempotent producer
writes to a partition that an idempotent one (aegis-producer) also writes to.
"""

import argparse
import signal
import sys
import time

from confluent_kafka import Producer

MALFORMED = [
    b"",  # empty
    b'{"tx_id": "json-is-not-avro"}',  # no Avro magic byte
    b"\xc3\x01\x00",  # single-object marker, then too few bytes for the fingerprint
    b"\x00\x00\x00\x7f\xffgarbage",  # Confluent wire format, unknown schema id
]


def publish(producer, topic):
    """Sends one batch of malformed messages; returns the delivery errors."""
    failures = []
    for i, value in enumerate(MALFORMED):
        producer.produce(topic, key=f"malformed-{i}".encode(), value=value,
                         on_delivery=lambda err, _msg: err and failures.append(str(err)))
    left = producer.flush(30)
    return failures + [f"{left} not delivered within 30 s"] * bool(left)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--brokers", required=True)
    parser.add_argument("--topic", default="transactions")
    parser.add_argument("--every", type=float, help="repeat every this many seconds until SIGTERM")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    producer = Producer({"bootstrap.servers": args.brokers, "enable.idempotence": True})
    batches = 0
    while True:
        failures = publish(producer, args.topic)
        if failures:
            print(f"dead_letters: could not publish: {failures}", file=sys.stderr)
            return 1
        batches += 1
        print(f"dead_letters: published {len(MALFORMED)} malformed messages to {args.topic} (batch {batches})", flush=True)
        if not args.every:
            return 0
        time.sleep(args.every)


if __name__ == "__main__":
    sys.exit(main())
