"""Live-session records, one item each in the inventory table (keys.session_pk, keys.SESSION_SK).

Every write is conditional on the status and version it read, so two operators (or a retried
request) never interleave; a status change is one UpdateItem, whose stream record the event
publisher turns into SessionStarted or SessionEnded.
"""

from typing import Any

from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError

from livestock import keys
from livestock.dal.codec import deserialize, serialize
from livestock.dal.expressions import Store, Update, is_conditional_failure
from livestock.models.sessions import Session, SessionStatus

ENTITY = "session"


def _item(session: Session) -> dict[str, object]:
    return {
        "pk": keys.session_pk(session.session_id),
        "sk": keys.SESSION_SK,
        "entity": ENTITY,
        **session.model_dump(mode="json"),
    }


class SessionStore(Store):
    def get_session(self, session_id: str, consistent: bool = True) -> Session | None:
        item = self.get(keys.session_pk(session_id), keys.SESSION_SK, consistent)
        return None if item is None else Session.model_validate(item)

    def create_session(self, session: Session) -> Session | None:
        """Writes a new session; returns the stored one instead if the id is taken."""
        return self._put(session, "attribute_not_exists(pk)", {}, {})

    def replace_session(self, session: Session, expected_version: int) -> Session | None:
        """Replaces a planned session read at `expected_version`; returns the stored one if it moved on."""
        return self._put(
            session,
            "#status = :planned AND #version = :version",
            {"#status": "status", "#version": "version"},
            {":planned": {"S": SessionStatus.PLANNED.value}, ":version": {"N": str(expected_version)}},
        )

    def _put(
        self, session: Session, condition: str, names: dict[str, str], values: dict[str, dict[str, str]]
    ) -> Session | None:
        request: dict[str, Any] = {
            "TableName": self.table,
            "Item": serialize(_item(session)),
            "ConditionExpression": condition,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if names:
            request["ExpressionAttributeNames"] = names
            request["ExpressionAttributeValues"] = values
        try:
            self.client.put_item(**request)
        except ClientError as error:
            if not is_conditional_failure(error):
                raise
            stored: dict[str, Any] | None = error.response.get("Item")  # type: ignore[assignment]
            return Session.model_validate(deserialize(stored)) if stored else self.get_session(session.session_id)
        return None

    def taken_over(self, session_id: str) -> Update:
        """A SKU's claim taken from a session that is not live (a start in flight, or one that
        failed midway): the session's version moves on, so that its start, which goes live from
        the version it read, is refused; refused itself once the session is live. A guard of the
        claiming change, so that exactly one of the two writes wins."""
        return (
            Update(keys.session_pk(session_id), keys.SESSION_SK)
            .add(version=1)
            .when(Attr("pk").exists() & Attr("status").ne(SessionStatus.LIVE.value))
        )

    def transition(self, session: Session, to: SessionStatus, at: float, actor: str) -> bool:
        """planned -> live (started_at) or live -> ended (ended_at), from the version read."""
        stamp = {"started_at": at} if to == SessionStatus.LIVE else {"ended_at": at}
        return self.update_if(
            Update(keys.session_pk(session.session_id), keys.SESSION_SK)
            .set(status=to.value, updated_at=at, last_actor=actor, **stamp)
            .add(version=1)
            .when(Attr("status").eq(session.status.value) & Attr("version").eq(session.version))
        )
