"""A consumer-group member on topic t that prints every assignment change (for tansu-dead-member.sh)."""
import sys
import time

from confluent_kafka import Consumer

name, brokers, strategy = sys.argv[1], sys.argv[2], sys.argv[3]
consumer = Consumer({"bootstrap.servers": brokers, "group.id": "g", "session.timeout.ms": 10000,
                     "partition.assignment.strategy": strategy, "log_level": 0})
started = time.time()


def show(kind):
    def callback(_consumer, partitions):
        print(f"{time.time() - started:5.1f}s {name} {kind} {sorted(p.partition for p in partitions)}",
              flush=True)
    return callback


consumer.subscribe(["t"], on_assign=show("assigned"), on_revoke=show("revoked"))
while True:
    consumer.poll(0.5)
