"""The box on the office network (mDNS / DNS-SD, python-zeroconf).

`edge serve` announces two services under the office's name: `_http._tcp` (so any DNS-SD
browser shows "Ramallah Clinic" and opens the pages) and `_edgebox._tcp`, whose TXT record
carries the box id, office id, software version, API path and live state (WAN up or down,
actions waiting), updated when they change. Another device using the same name makes
zeroconf rename ours ("Ramallah Clinic-2"), never fail. Addresses are re-read every few
seconds, so a DHCP renewal or a moved cable needs no restart. Any failure is logged and
retried; the web process never stops for it. `edge discover` lists the boxes.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ifaddr
from zeroconf import InterfaceChoice, IPVersion
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from edge import __version__
from edge.clock import iso_ms, utcnow
from edge.journal.boxvalues import set_box_value
from edge.journal.reads import Reader
from edge.journal.store import Journal
from edge.settings import Settings

log = logging.getLogger("edge.mdns")
HTTP = "_http._tcp.local."
EDGEBOX = "_edgebox._tcp.local."
API_PATH = "/api/v1"


def slug(name: str) -> str:
    """A host-name label from the office's name: `Ramallah Clinic` → `ramallah-clinic`."""
    label = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return label[:63] or "edge-box"


def interfaces(setting: str) -> Any:
    return InterfaceChoice.All if setting == "all" else [i.strip() for i in setting.split(",")]


def addresses(setting: str) -> list[bytes]:
    """This host's IPv4 addresses to announce (loopback only when asked for by name)."""
    wanted = None if setting == "all" else {i.strip() for i in setting.split(",")}
    found = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if not isinstance(ip.ip, str):
                continue  # IPv6 (announced by the IPv4 host record only, for old clients)
            if wanted is None and ip.ip.startswith("127."):
                continue
            if wanted is not None and ip.ip not in wanted:
                continue
            found.append(socket.inet_aton(ip.ip))
    return sorted(set(found))


@dataclass(frozen=True)
class LiveState:
    wan: str  # up | down | unknown
    waiting: int
    state: str = "unlocked"  # or locked: nothing can be read until someone logs in


def live_state(reader: Reader | None) -> LiveState:
    if reader is None:
        return LiveState("unknown", 0, "locked")
    summary = reader.sync_summary()
    reachable = summary["registry_reachable"]
    counts = summary["counts"]
    return LiveState(
        "unknown" if reachable is None else "up" if reachable else "down",
        counts.get("pending", 0) + counts.get("sending", 0),
    )


class Announcer:
    """Keeps the box announced while `edge serve` runs."""

    REFRESH = 5.0  # seconds between looks at the state and the addresses

    def __init__(
        self, settings: Settings, opened: Callable[[], tuple[Reader, Journal] | None], port: int
    ) -> None:
        self.settings, self.opened, self.port = settings, opened, port
        self.name = settings.office_name or settings.office_id
        self.zc: AsyncZeroconf | None = None
        self.infos: list[AsyncServiceInfo] = []
        self._task: asyncio.Task[None] | None = None
        self._seen: tuple[LiveState, tuple[bytes, ...]] | None = None
        self.host = f"{slug(self.name)}.local."
        self._stamped = 0.0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        await self._withdraw()

    async def _run(self) -> None:
        backoff, rounds = 5.0, 0
        while True:
            try:
                await self._refresh()
                rounds += 1
                if rounds == 2 or rounds % 12 == 0:  # soon, then each minute: two boxes
                    await self._recheck_host()  # that started together pick again
                backoff = 5.0
                await asyncio.sleep(self.REFRESH)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never let the LAN take the web process down
                log.warning("mDNS announcement failed (%s); retrying in %.0f s", exc, backoff)
                await self._withdraw()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 60.0)

    async def _refresh(self) -> None:
        box = self.opened()
        state = await asyncio.to_thread(live_state, box[0] if box else None)
        addrs = tuple(addresses(self.settings.mdns_interfaces))
        if self.zc is not None and self._seen == (state, addrs):
            if time.monotonic() - self._stamped > 300:  # still announcing: doctor sees it
                await self._stamp()
            return
        if self.zc is None:
            self.zc = AsyncZeroconf(
                interfaces=interfaces(self.settings.mdns_interfaces), ip_version=IPVersion.V4Only
            )
            self.host = await self._free_host(self.zc)
            infos = self._infos(state, list(addrs))
            for info in infos:
                await self.zc.async_register_service(info, allow_name_change=True)
            self.infos = infos
            log.info("announced as %s on the office network", ", ".join(i.name for i in infos))
        else:
            infos = self._infos(state, list(addrs))
            for old, new in zip(self.infos, infos, strict=True):
                new.name = old.name  # keep a name zeroconf gave us after a clash
                await self.zc.async_update_service(new)
            self.infos = infos
        self._seen = (state, addrs)
        await self._stamp()

    async def _stamp(self) -> None:
        box = self.opened()
        if box is None:
            return
        await box[1].run_async(lambda c: set_box_value(c, "mdns_announced_at", iso_ms(utcnow())))
        self._stamped = time.monotonic()

    async def _free_host(self, zc: AsyncZeroconf) -> str:
        """`<office-slug>.local.`, or `<office-slug>-2.local.` and on when another box of
        the network already answers to it (host names are not probed by zeroconf)."""
        taken = {f.host for f in await _browse(zc, 3.0) if f.box != self.settings.box_id}
        base = slug(self.name)
        for n in range(1, 100):
            host = f"{base}.local." if n == 1 else f"{base}-{n}.local."
            if host not in taken:
                return host
        return f"{base}-{self.settings.box_id[-6:]}.local."

    async def _recheck_host(self) -> None:
        """Two boxes that chose the same host name (started together): the one with the
        greater box id moves to a free name."""
        if self.zc is None:
            return
        others = [f for f in await _browse(self.zc, 2.0) if f.box != self.settings.box_id]
        if any(f.host == self.host and f.box < self.settings.box_id for f in others):
            log.info("another box answers to %s: renaming", self.host)
            await self._withdraw()  # re-announced, with a free name, at the next refresh

    def _infos(self, state: LiveState, addrs: list[bytes]) -> list[AsyncServiceInfo]:
        server = self.host
        common = {"path": "/"}
        box = {
            "box": self.settings.box_id,
            "office": self.settings.office_id,
            "version": __version__,
            "api": API_PATH,
            "wan": state.wan,
            "waiting": str(state.waiting),
            "state": state.state,
        }
        return [
            AsyncServiceInfo(
                kind,
                f"{self._instance(kind)}.{kind}",
                addresses=addrs,
                port=self.port,
                properties=props,
                server=server,
            )
            for kind, props in ((HTTP, common), (EDGEBOX, {**common, **box}))
        ]

    def _instance(self, kind: str) -> str:
        for info in self.infos:
            if info.type == kind:
                return info.name[: -len(kind) - 1]
        return self.name

    async def _withdraw(self) -> None:
        zc, self.zc, self._seen = self.zc, None, None
        if zc is None:
            return
        try:
            await zc.async_unregister_all_services()
            await zc.async_close()
        except Exception as exc:
            log.warning("mDNS withdrawal failed: %s", exc)


@dataclass
class Found:
    name: str
    addresses: list[str]
    port: int
    office: str
    box: str
    version: str
    wan: str
    waiting: int
    host: str


async def discover(seconds: float, where: str = "all") -> list[Found]:
    """The boxes answering on the network within `seconds`."""
    zc = AsyncZeroconf(interfaces=interfaces(where), ip_version=IPVersion.V4Only)
    try:
        return await _browse(zc, seconds)
    finally:
        await zc.async_close()


async def _browse(zc: AsyncZeroconf, seconds: float) -> list[Found]:
    names: set[str] = set()

    def seen(zeroconf: Any, service_type: str, name: str, state_change: Any) -> None:
        names.add(name)

    browser = AsyncServiceBrowser(zc.zeroconf, [EDGEBOX], handlers=[seen])
    try:
        await asyncio.sleep(seconds)
        found = []
        for name in sorted(names):
            info = AsyncServiceInfo(EDGEBOX, name)
            if not await info.async_request(zc.zeroconf, 3000):
                continue
            props = {k.decode(): (v or b"").decode() for k, v in info.properties.items()}
            found.append(
                Found(
                    name[: -len(EDGEBOX) - 1],
                    sorted(info.parsed_addresses()),
                    info.port or 0,
                    props.get("office", ""),
                    props.get("box", ""),
                    props.get("version", ""),
                    props.get("wan", ""),
                    int(props.get("waiting") or 0),
                    info.server or "",
                )
            )
        return found
    finally:
        await browser.async_cancel()
