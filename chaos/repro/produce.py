"""An idempotent producer writing to topic t for SECONDS seconds; prints what was delivered."""
import sys
import time

from confluent_kafka import Producer

brokers, seconds = sys.argv[1], float(sys.argv[2])
delivered = failed = 0
errors = {}


def report(err, _msg):
    global delivered, failed
    if err is None:
        delivered += 1
    else:
        failed += 1
        errors[str(err)] = errors.get(str(err), 0) + 1


producer = Producer({"bootstrap.servers": brokers, "enable.idempotence": True, "acks": "all",
                     "linger.ms": 5, "log_level": 0})
started, sent = time.time(), 0
while time.time() - started < seconds:
    producer.produce("t", key=str(sent).encode(), value=b"x" * 100, on_delivery=report)
    sent += 1
    producer.poll(0)
    time.sleep(0.0005)
producer.flush(60)
print(f"sent {sent}, delivered {delivered}, failed {failed}; errors {errors}", flush=True)
