"""A small HTTP client for the local gateway, safe to share between threads."""

import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry


@dataclass
class Answer:
    status: int
    body: Any

    @property
    def code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) else None


class Api:
    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url
        self.api_key = api_key
        self._local = threading.local()

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            session = requests.Session()
            # A kept-alive connection the gateway closed as it was reused (its idle timeout, on a
            # loaded machine) resets a request that never reached it: a GET is sent again.
            reads = Retry(total=2, connect=2, read=2, status=0, allowed_methods={"GET", "HEAD"}, raise_on_status=False)
            session.mount("http://", HTTPAdapter(max_retries=reads))
            self._local.session = session
        current: requests.Session = self._local.session
        return current

    def call(
        self,
        method: str,
        path: str,
        json: Any = None,
        headers: dict[str, str] | None = None,
        data: str | bytes | None = None,
    ) -> Answer:
        all_headers = {"x-api-key": self.api_key, "content-type": "application/json", **(headers or {})}
        response = self._session().request(
            method, self.base_url + path, json=json, data=data, headers=all_headers, timeout=30
        )
        try:
            body = response.json()
        except ValueError:
            body = response.text
        return Answer(response.status_code, body)

    def call_patiently(self, method: str, path: str, json: Any = None, attempts: int = 30) -> Answer:
        """Follows the API's contract for REQUEST_IN_PROGRESS: wait retry_after_s, then ask again."""
        for _ in range(attempts):
            answer = self.call(method, path, json=json)
            if answer.code != "REQUEST_IN_PROGRESS":
                return answer
            time.sleep(float(answer.body["details"].get("retry_after_s", 1)))
        return answer

    def confirm(self, hold_id: str, timeout_s: float = 60.0) -> Answer:
        """Confirms a hold as a paying client would. A 202 'confirming' means the stream was behind:
        the confirm was recorded and applies when the hold settles, so that is waited for here."""
        answer = self.call_patiently("POST", f"/holds/{hold_id}/confirm")
        if answer.status == 202:
            deadline = time.monotonic() + timeout_s
            while True:
                hold = self.get(f"/holds/{hold_id}")
                assert hold.status == 200, hold.body
                if hold.body["status"] == "confirmed":
                    break
                assert time.monotonic() < deadline, f"a confirm answered 202 left the hold {hold.body['status']}"
                time.sleep(0.1)
        return answer

    def get(self, path: str, **kwargs: Any) -> Answer:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Answer:
        return self.call("POST", path, json=json, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> Answer:
        return self.call("PUT", path, json=json, **kwargs)
