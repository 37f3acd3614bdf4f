"""Baseline for the cold-start bench: a naive handler that imports everything up front."""

# ruff: noqa: F401
import bcrypt
import boto3
import jwt
import psycopg
import pydantic
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

logger = Logger(service="eager")
metrics = Metrics(namespace="Eager")
tracer = Tracer(service="eager")
app = APIGatewayHttpResolver(enable_validation=True)
