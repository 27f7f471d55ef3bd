"""The API bench's floor: a FastAPI app whose ``POST /v1/rate`` and ``POST /v1/events`` read the
JSON body and answer a fixed reply, under uvicorn as ``ratebook serve`` runs it (one worker, no
access log). The same load against it in the same run says how much of a latency figure is the
framework, the load process and the machine, before Ratebook does anything."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import uvicorn
from fastapi import Body, FastAPI
from fastapi.responses import JSONResponse

app = FastAPI()
_REPLY = {"rated": 1, "results": [{"index": 0, "status": "rated", "charge": "0.1000"}]}


@app.get("/readyz")
@app.get("/healthz")
async def ready() -> JSONResponse:
    return JSONResponse({"status": "ready"})


@app.post("/v1/rate")
@app.post("/v1/events")
def answer(payload: Annotated[Any, Body()]) -> JSONResponse:
    return JSONResponse(_REPLY)


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
