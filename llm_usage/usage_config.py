"""The `[usage]` config section: what the token report (`GET /api/usage/tokens`) shows a business."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class UsageConfig:
    # Show each row's provider cost and margin (micro-USD). An operator who resells tokens and
    # doesn't want businesses to see what the provider charges sets false: the report then
    # omits providerCostMicros and marginMicros (unpricedRequests stays).
    expose_provider_cost: bool = True
