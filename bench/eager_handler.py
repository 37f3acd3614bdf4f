"""Baseline for the cold-start bench: a naive handler that imports everything up front.

No Powertools ``Tracer``: it needs the X-Ray SDK, which the layer no longer ships (no
function creates a Tracer), so a handler built on the layer's requirements cannot make one.
"""

# ruff: noqa: F401
import bcrypt
import boto3
import jwt
import psycopg
import pydantic
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

logger = Logger(service="eager")
metrics = Metrics(namespace="Eager")
app = APIGatewayHttpResolver(enable_validation=True)
