"""robots.txt as the crawler obeys it: which paths it may fetch, how long to wait between requests, the sitemaps named."""

from __future__ import annotations

import dataclasses
import urllib.robotparser

from yarl import URL

PRODUCT = "AgentServerBot"


def user_agent(version: str, public_url: str) -> str:
    """`AgentServerBot/<version> (+PUBLIC_URL)`: who is crawling and where to read about it."""
    return f"{PRODUCT}/{version} (+{public_url})"


@dataclasses.dataclass(frozen=True)
class Robots:
    """One host's rules for this crawler."""

    parser: urllib.robotparser.RobotFileParser
    allow_all: bool = False
    deny_all: bool = False
    delay: float | None = None

    def allowed(self, url: URL) -> bool:
        if self.deny_all:
            return False
        return self.allow_all or self.parser.can_fetch(PRODUCT, str(url))

    @property
    def crawl_delay(self) -> float | None:
        """The Crawl-delay for this crawler (or `*`), in seconds."""
        return self.delay

    @property
    def sitemaps(self) -> list[str]:
        if self.allow_all or self.deny_all:
            return []
        return list(self.parser.site_maps() or [])


def _crawl_delay(lines: list[str]) -> float | None:
    """The Crawl-delay of our group, else of `*`; fractions allowed (robotparser reads only whole seconds)."""
    delays: dict[str, float] = {}
    agents: list[str] = []
    in_rules = False
    for raw in lines:
        key, _, value = raw.split("#", 1)[0].partition(":")
        key, value = key.strip().lower(), value.strip()
        if key == "user-agent":
            agents = [] if in_rules else agents
            in_rules = False
            agents.append(value.lower())
        elif key in ("allow", "disallow", "crawl-delay"):
            in_rules = True
            if key == "crawl-delay":
                try:
                    delays.update({agent: float(value) for agent in agents})
                except ValueError:
                    continue
    ours = next((d for agent, d in delays.items() if agent != "*" and agent in PRODUCT.lower()), None)
    return ours if ours is not None else delays.get("*")


def parse(text: str) -> Robots:
    lines = text.splitlines()
    parser = urllib.robotparser.RobotFileParser()
    parser.parse(lines)
    return Robots(parser, delay=_crawl_delay(lines))


def for_status(status: int, text: str) -> Robots:
    """The rules given the robots.txt response: 2xx parsed; 4xx (none published) allows everything;
    anything else (5xx, unreachable) allows nothing, as RFC 9309 asks of a server in trouble."""
    if 200 <= status < 300:
        return parse(text)
    if 400 <= status < 500:
        return Robots(urllib.robotparser.RobotFileParser(), allow_all=True)
    return Robots(urllib.robotparser.RobotFileParser(), deny_all=True)
