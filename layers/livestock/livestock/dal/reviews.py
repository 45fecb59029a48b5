"""Where reviews are kept: the three formats in the review bucket (keys.review_object), and a line
per SKU in the events table (keys.review_history_pk) for GET /skus/{sku_id}/history.

Every write replaces the object or item of the same key: a rebuild of the same review leaves the
same bytes and the same items.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from livestock import keys
from livestock.dal import clients
from livestock.dal.codec import deserialize
from livestock.dal.expressions import Store, key_query
from livestock.models.review import SkuHistoryEntry

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CONTENT_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
}


@dataclass
class ReviewObjects:
    bucket: str
    # The S3 client to use; by default the process's shared one, made on first use.
    s3: "Callable[[], S3Client]" = clients.s3

    @property
    def client(self) -> "S3Client":
        return self.s3()

    def put(self, session_id: str, extension: str, body: str, digest: str, only_if_absent: bool = False) -> bool:
        """Writes one of the review's files; with `only_if_absent`, only if none is there yet (S3's
        conditional write): False if another build stored it first."""
        condition: dict[str, str] = {"IfNoneMatch": "*"} if only_if_absent else {}
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=keys.review_object(session_id, extension),
                Body=body.encode(),
                ContentType=CONTENT_TYPES[extension],
                Metadata={"digest": digest},
                **condition,  # type: ignore[arg-type]
            )
        except ClientError as error:
            if only_if_absent and error.response["Error"]["Code"] in ("PreconditionFailed", "412"):
                return False
            raise
        return True

    def get(self, session_id: str, extension: str) -> str | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=keys.review_object(session_id, extension))
        except ClientError as error:
            if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
                return None
            raise
        return response["Body"].read().decode()


class ReviewHistory(Store):
    def put(self, sku_id: str, ended_at_iso: str, entry: SkuHistoryEntry) -> None:
        item = {
            "pk": keys.review_history_pk(sku_id),
            "sk": keys.review_history_sk(ended_at_iso, entry.session_id),
            "entity": "review-history",
            **entry.model_dump(mode="json"),
        }
        self.put_item(item)

    def of_sku(self, sku_id: str, limit: int) -> list[SkuHistoryEntry]:
        """Newest first."""
        condition = Key("pk").eq(keys.review_history_pk(sku_id))
        found: list[SkuHistoryEntry] = []
        paginator = self.client.get_paginator("query")
        pages = paginator.paginate(
            **key_query(self.table, None, condition, ScanIndexForward=False),
            PaginationConfig={"MaxItems": limit},
        )
        for page in pages:
            for raw in page["Items"]:
                item = deserialize(raw)
                found.append(SkuHistoryEntry.model_validate({k: item.get(k) for k in SkuHistoryEntry.model_fields}))
        return found
