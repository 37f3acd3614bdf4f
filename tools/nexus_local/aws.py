"""The local AWS endpoint: moto's server on 127.0.0.1:4566 with the template's queues,
named by logical ID, with their visibility timeouts, retention and redrive policies, the
template's S3 buckets (named by logical ID in lower case: ``FilesBucket`` is ``filesbucket``;
moto checks no signature, so presigned URLs work whatever they sign), and SES v2 with the
sender identity verified (moto refuses an unverified one); what SES sent is listed at
``GET /_aws/ses`` as LocalStack lists it (nexus_local.ses). Queues, objects and mail live in
memory: they do not survive a restart of the stack."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

from nexus_local.template import Queue

REGION = "us-east-1"


def bucket_name(logical_id: str) -> str:
    """A bucket's local name: its logical id as S3 allows (lower case)."""
    return logical_id.lower()


def use_local_endpoint(url: str) -> None:
    """Every boto3 client in this process (the functions included) talks to ``url``."""
    os.environ["AWS_ENDPOINT_URL"] = url
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")


def _server(host: str, port: int) -> Any:
    """moto's threaded server, its application wrapped by the SES listing."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from nexus_local.ses import SesListing

    class Server(ThreadedMotoServer):
        listing = SesListing(DomainDispatcherApplication(create_backend_app), REGION)

        def _server_entry(self) -> None:
            self._server = make_server(
                self._ip_address, self._port, self.listing, True, request_handler=MotoRequestHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    return Server(ip_address=host, port=port, verbose=False)


class LocalAws:
    def __init__(self, host: str, port: int) -> None:
        self.url = f"http://{host}:{port}"
        self.mail_url = f"{self.url}/_aws/ses"
        self._server = _server(host, port)

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()

    def client(self, service: str = "sqs") -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - the local endpoint's dummy key
        )

    def create_queues(self, queues: dict[str, Queue]) -> dict[str, str]:
        """Create the queues (dead-letter targets first); return the values the template's
        !Ref and !GetAtt on them resolve to."""
        sqs = self.client()
        values: dict[str, str] = {}
        ordered = sorted(queues.values(), key=lambda q: q.dead_letter_target is not None)
        for queue in ordered:
            attributes = {
                "VisibilityTimeout": str(queue.visibility_timeout),
                "MessageRetentionPeriod": str(queue.retention),
            }
            if queue.dead_letter_target:
                attributes["RedrivePolicy"] = json.dumps(
                    {
                        "deadLetterTargetArn": values[f"GetAtt:{queue.dead_letter_target}.Arn"],
                        "maxReceiveCount": str(queue.max_receive_count or 5),
                    }
                )
            url = sqs.create_queue(QueueName=queue.logical_id, Attributes=attributes)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            values[f"Ref:{queue.logical_id}"] = url
            values[f"GetAtt:{queue.logical_id}.Arn"] = arn
            values[f"GetAtt:{queue.logical_id}.QueueName"] = queue.logical_id
        return values

    def create_buckets(self, buckets: Iterable[str]) -> dict[str, str]:
        """Create the buckets; return the values the template's !Ref (the bucket's name)
        and !GetAtt <id>.Arn on them resolve to."""
        s3 = self.client("s3")
        values: dict[str, str] = {}
        for logical_id in buckets:
            name = bucket_name(logical_id)
            s3.create_bucket(Bucket=name)
            values[f"Ref:{logical_id}"] = name
            values[f"GetAtt:{logical_id}.Arn"] = f"arn:aws:s3:::{name}"
        return values

    def apply_cors(self, rules: dict[str, list[dict[str, Any]]]) -> None:
        """The template's CORS rules on the local buckets (moto answers the browser's preflight
        with them, as S3 does)."""
        s3 = self.client("s3")
        for logical_id, bucket_rules in rules.items():
            s3.put_bucket_cors(
                Bucket=bucket_name(logical_id), CORSConfiguration={"CORSRules": bucket_rules}
            )

    def verify_sender(self, address: str) -> None:
        """The sender identity SES must know before it sends (SES_IDENTITY on AWS)."""
        if address:
            self.client("sesv2").create_email_identity(EmailIdentity=address)
