"""The channel routes: a channel's settings (a credentials reference, never a secret) and its sync
state per SKU. Saving a channel publishes ChannelChanged, so platform sync sets its platform at
once rather than at the SKU's next stock change."""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from livestock.dal.channels import ChannelRepository
from livestock.dal.registry import RegistryRevision
from livestock.events.models import ChannelChanged
from livestock.events.publisher import EventSink
from livestock.models.channels import ChannelRequest, ChannelView, PlatformSkuIds, SkuSyncView
from livestock.models.sync_exceptions import ChannelNotFound
from livestock.platforms import endpoints


def percentile(ordered: list[float], pct: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, math.ceil(pct / 100 * len(ordered)) - 1)], 4)


@dataclass
class ChannelService:
    repository: ChannelRepository
    registry: RegistryRevision
    sink: EventSink | None = None
    clock: Callable[[], float] = time.time
    allow_loopback_endpoints: bool = False

    def put(self, channel_id: str, request: ChannelRequest) -> tuple[ChannelView, bool]:
        """Saves the channel (its endpoint must be its platform's API host: platforms/endpoints.py)."""
        endpoints.check(request.endpoint, "endpoint", request.platform, self.allow_loopback_endpoints)
        settings = request.model_dump(mode="json")
        now = self.clock()
        stored, created = self.repository.put_channel(channel_id, settings, now)
        self.registry.bump()
        if self.sink is not None:
            # After the write: a PUT that fails here is retried by its caller and publishes again.
            version = int(stored["version"])
            event = ChannelChanged(
                event_id=f"ChannelChanged:{channel_id}:{version}",
                occurred_at=now,
                channel_id=channel_id,
                channel_version=version,
                sku_ids=sorted(stored["sku_map"]),
            )
            self.sink.publish([self.sink.entry(ChannelChanged.detail_type, event.model_dump(mode="json"))])
        return self.get(channel_id), created

    def get(self, channel_id: str) -> ChannelView:
        channel = self.repository.get_channel(channel_id)
        if channel is None:
            raise ChannelNotFound(f"no channel {channel_id!r}", {"channel_id": channel_id})
        states = {s["sk"]: s for s in self.repository.states(channel_id)}
        logs = {sku_id: self.repository.logs(channel_id, sku_id) for sku_id in channel["sku_map"]}
        lags = {sku_id: sorted(float(log["lag_s"]) for log in found) for sku_id, found in logs.items()}
        queued = {
            sku_id: sorted(float(log["queued_s"]) for log in found if "queued_s" in log)
            for sku_id, found in logs.items()
        }
        sync = []
        for sku_id, ids in sorted(channel["sku_map"].items()):
            state = states.get(sku_id, {})
            sync.append(
                SkuSyncView(
                    sku_id=sku_id,
                    platform_ids=PlatformSkuIds.model_validate(ids),
                    shown=state.get("shown"),
                    last_sent=state.get("last_sent"),
                    last_acknowledged=state.get("last_acknowledged"),
                    acknowledged_at=state.get("acknowledged_at"),
                    lag_s=state.get("lag_s"),
                    pending=bool(state.get("outbox")),
                    calls=int(state.get("calls", 0)),
                    rate_limited=int(state.get("rate_limited", 0)),
                    last_error=state.get("last_error"),
                    sequence=int(state.get("sequence", 0)),
                    lag_p50_s=percentile(lags[sku_id], 50),
                    lag_p99_s=percentile(lags[sku_id], 99),
                    queued_p50_s=percentile(queued[sku_id], 50),
                    queued_p99_s=percentile(queued[sku_id], 99),
                    orders=int(state.get("orders", 0)),
                    orders_refused=int(state.get("orders_refused", 0)),
                    units_refused=int(state.get("units_refused", 0)),
                )
            )
        return ChannelView(
            channel_id=channel_id,
            platform=channel["platform"],
            mode=channel["mode"],
            ratio=channel.get("ratio"),
            buffer=channel.get("buffer"),
            endpoint=channel["endpoint"],
            credentials_ref=channel["credentials_ref"],
            qps=float(channel["qps"]),
            sku_map={k: PlatformSkuIds.model_validate(v) for k, v in channel["sku_map"].items()},
            version=int(channel["version"]),
            sync=sync,
        )
