"""tansu 0.6.0 (SQLite storage) scans its whole `header` table for every record it serves: the
`header` table has no index on (topition, offset_id) and header_fetch.sql runs once per fetched
record, so reading N records costs N x (all headers stored on the broker, on any topic).

Writes N records with one header to topic h and N plain records to topic p, then times reading p.

    .aegis/venv/bin/python chaos/repro/tansu-header-scan.py N [--no-headers]
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from confluent_kafka import Consumer, Producer, TopicPartition

n = int(sys.argv[1])
with_headers = "--no-headers" not in sys.argv
directory = tempfile.mkdtemp(prefix="tansu-repro.")
os.mkdir(f"{directory}/broker")
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
port = sock.getsockname()[1]
sock.close()
url = f"tcp://127.0.0.1:{port}"
with open(f"{directory}/broker.log", "w") as log:
    broker = subprocess.Popen(["tansu", "broker", "--listener-url", url, "--advertised-listener-url", url,
                               "--storage-engine", "sqlite://broker.db"], cwd=f"{directory}/broker",
                              stdout=log, stderr=subprocess.STDOUT)
try:
    time.sleep(1)
    for topic in ["h", "p"]:
        subprocess.run(["tansu", "topic", "create", "--broker", url, "--partitions", "1", topic],
                       check=True, capture_output=True)
    producer = Producer({"bootstrap.servers": f"127.0.0.1:{port}", "linger.ms": 5, "log_level": 0})
    for i in range(n):
        producer.produce("h", value=b"x" * 100, headers=[("reason", b"body")] if with_headers else None)
        producer.produce("p", value=b"x" * 100)
        if i % 1000 == 0:
            producer.poll(0)
    producer.flush(60)
    consumer = Consumer({"bootstrap.servers": f"127.0.0.1:{port}", "group.id": "r",
                         "enable.auto.commit": False, "log_level": 0})
    consumer.assign([TopicPartition("p", 0, 0)])
    got, started = 0, time.time()
    while got < n and time.time() - started < 600:
        message = consumer.poll(1)
        if message is not None and not message.error():
            got += 1
    print(f"{n if with_headers else 0} header rows stored: read {got} plain records in "
          f"{time.time() - started:.1f} s")
    consumer.close()
finally:
    broker.kill()
    broker.wait()
    shutil.rmtree(directory, ignore_errors=True)
