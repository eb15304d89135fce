"""Events on the control plane's EventBridge bus, critical alerts on SNS, metrics as EMF."""

from __future__ import annotations

import json
from typing import Any

from .lifecycle import EVENT_SOURCE


class Notifier:
    def __init__(self, events: Any, sns: Any, bus_name: str, alert_topic_arn: str) -> None:
        self.events = events
        self.sns = sns
        self.bus_name = bus_name
        self.alert_topic_arn = alert_topic_arn
        self.sent: list[dict[str, Any]] = []

    def event(self, detail_type: str, detail: dict[str, Any]) -> None:
        entry = {
            "Source": EVENT_SOURCE,
            "DetailType": detail_type,
            "Detail": json.dumps(detail, sort_keys=True, default=str),
            "EventBusName": self.bus_name,
        }
        response = self.events.put_events(Entries=[entry])
        if response.get("FailedEntryCount"):
            raise RuntimeError(f"EventBridge refused {detail_type}: {response['Entries']}")
        self.sent.append({"detail_type": detail_type, "detail": detail})

    def alert(self, subject: str, detail: dict[str, Any]) -> None:
        """A critical alert: an event and a message to the alert topic (paged, mailed)."""
        if self.alert_topic_arn:
            self.sns.publish(
                TopicArn=self.alert_topic_arn,
                Subject=subject[:100],
                Message=json.dumps(detail, indent=2, sort_keys=True, default=str),
            )
