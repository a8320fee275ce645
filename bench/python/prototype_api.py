"""The Python prototype's scoring endpoint, as the baseline of `POST /v1/score`: FastAPI and
uvicorn, one transaction per request, scikit-learn's forest (trained on the same rows as Aegis's)
behind it, the same features and thresholds.

Two routes with the same work:
- `POST /score_async`: an `async def` endpoint, as FastAPI's authors recommend for work that does
  not wait on I/O: it runs on the event loop, with no hop to a worker thread. Served by
  `uvicorn[standard]` (uvloop and httptools), this is how the prototype would be deployed.
- `POST /score`: the first prototype's plain `def` endpoint, which Starlette runs in its thread
  pool (kept as a second baseline row).

    AEGIS_BENCH_SKLEARN_MODEL=sk.joblib AEGIS_BENCH_REVIEW=0.43 AEGIS_BENCH_BLOCK=0.67 \
        uvicorn prototype_api:app --port 8000 --loop uvloop --http httptools
"""

import os
import time
import uuid
from typing import Literal, Optional

import joblib
import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel, Field

MODEL = joblib.load(os.environ["AEGIS_BENCH_SKLEARN_MODEL"])
MODEL.n_jobs = 1
REVIEW = float(os.environ["AEGIS_BENCH_REVIEW"])
BLOCK = float(os.environ["AEGIS_BENCH_BLOCK"])
TYPES = ["CASH_IN", "CASH_OUT", "DEBIT", "PAYMENT", "TRANSFER"]

app = FastAPI(title="fraud prototype")


class Transaction(BaseModel):
    tx_id: Optional[str] = None
    event_time: Optional[int] = None
    step: int = 0
    type: Literal["CASH_IN", "CASH_OUT", "DEBIT", "PAYMENT", "TRANSFER"]
    amount: float = Field(ge=0)
    name_orig: str
    old_balance_orig: float
    new_balance_orig: float
    name_dest: str
    old_balance_dest: float
    new_balance_dest: float
    is_fraud: Optional[bool] = None


def features(tx):
    """The 13 features of aegis_core::features, in the same order."""
    one_hot = [1.0 if tx.type == t else 0.0 for t in TYPES]
    emptied = 1.0 if tx.old_balance_orig > 0 and tx.new_balance_orig == 0 else 0.0
    return np.array(
        [
            one_hot
            + [
                tx.amount,
                tx.old_balance_orig,
                tx.new_balance_orig,
                tx.old_balance_dest,
                tx.new_balance_dest,
                tx.new_balance_orig + tx.amount - tx.old_balance_orig,
                tx.old_balance_dest + tx.amount - tx.new_balance_dest,
                emptied,
            ]
        ]
    )


def verdict(tx):
    """One transaction's verdict, as the prototype returned it."""
    probability = float(MODEL.predict_proba(features(tx))[0, 1])
    decision = "BLOCK" if probability >= BLOCK else "REVIEW" if probability >= REVIEW else "ALLOW"
    return {
        "tx_id": tx.tx_id or f"api-{uuid.uuid4()}",
        "account": tx.name_orig,
        "amount": tx.amount,
        "type": tx.type,
        "fraud_probability": probability,
        "decision": decision,
        "scored_at": int(time.time() * 1000),
    }


@app.post("/score")
def score(tx: Transaction):
    """The first prototype's route: a sync endpoint, run in the thread pool."""
    return verdict(tx)


@app.post("/score_async")
async def score_async(tx: Transaction):
    """The same work on the event loop (no thread-pool hop)."""
    return verdict(tx)
