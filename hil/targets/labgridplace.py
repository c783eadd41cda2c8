"""The ``labgrid`` kind: a board of a labgrid lab, taken through labgrid's coordinator.

Bringing it up queues a *reservation* for the place (``[labgrid] place``, or any
place with ``[labgrid] tags``) in labgrid's coordinator, waits in its queue up to
``[lease] wait`` seconds, *acquires* the place and reads its resources:

* ``NetworkService``: the SSH address, port and user (the host key, which labgrid
  does not carry, and the client key come from the definition's ``[ssh]``);
* ``NetworkSerialPort``: the console (``protocol`` ``raw``: ``socket://``, else
  ``rfc2217://``);
* ``NetworkPowerPort`` or ``PDUDaemonPort``, when the place has one: power, through
  labgrid's own driver (else the definition's ``[power]`` commands).

From there it is a board (``BoardTarget``): the same SSH, console, deployment, qvm
and guest paths; labgrid is its lease.  Taking it down releases the place and
cancels the reservation (also after Ctrl-C, SIGTERM or an error while waiting).

Each run is its own labgrid user, ``HOST/USER+hilPID``, so two runs of one CI
user queue for a place like two users.  A place still acquired by a run of this
host whose process is gone (killed with SIGKILL) is released with labgrid's
``release-from`` (only if still acquired by that run) and that run's reservation
cancelled; from another host: ``labgrid-client -p PLACE release-from HOST/USER+hilPID``.
labgrid is optional: ``pip install 'qnx-hil[labgrid]'``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import getpass
import os
import socket
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from hil.core.deadline import Deadline
from hil.core.errors import InfrastructureError, SetupError
from hil.targets.base import register
from hil.targets.board import BoardTarget
from hil.targets.definition import ConsoleSection, LeaseSection, TargetDefinition

INSTALL_HINT = "pip install 'qnx-hil[labgrid]' (or pip install labgrid) in the environment that runs qnx-hil"

#: labgrid's default coordinator port, and how long one coordinator call may take.
DEFAULT_PORT = 20408
CALL_TIMEOUT = 20.0
#: How often a waiting reservation is polled (labgrid expires one unpolled for 60 s).
POLL_S = 1.0

#: The power resources driven through labgrid's own drivers (resource class: driver class).
POWER_DRIVERS = {"NetworkPowerPort": "NetworkPowerDriver", "PDUDaemonPort": "PDUDaemonDriver"}


def _client() -> Any:
    """labgrid's client module, or a ``SetupError`` saying how to install it."""
    try:
        from labgrid.remote import client
    except ImportError as exc:
        raise SetupError(f"the labgrid target kind needs labgrid ({exc}): {INSTALL_HINT}") from None
    return client


_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _event_loop() -> asyncio.AbstractEventLoop:
    """The one event loop every coordinator connection of this process runs on (grpc's asyncio
    support binds to one loop), in a daemon thread: a Ctrl-C in the caller never stops it."""
    global _loop
    with _loop_lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="hil-labgrid", daemon=True).start()
            _loop = loop
        return _loop


def run_owner(pid: int | None = None) -> str:
    """This run's labgrid user name, ``HOST/USER+hilPID`` (``LG_HOSTNAME``/``LG_USERNAME`` as labgrid's)."""
    host = os.environ.get("LG_HOSTNAME", socket.gethostname())
    user = os.environ.get("LG_USERNAME", getpass.getuser())
    return f"{host}/{user}+hil{os.getpid() if pid is None else pid}"


def stale_on_this_host(holder: str | None) -> bool:
    """True when ``holder`` is a qnx-hil run of this host whose process is gone."""
    if not holder or "/" not in holder or "+hil" not in holder:
        return False
    host, _, rest = holder.partition("/")
    pid_text = rest.rpartition("+hil")[2]
    if host != os.environ.get("LG_HOSTNAME", socket.gethostname()) or not pid_text.isdigit():
        return False
    from hil.core.signals import process_alive

    return not process_alive(int(pid_text))  # a zombie (dead, not yet reaped) is gone too


def coordinator_address(definition: TargetDefinition) -> str:
    """``[labgrid] coordinator``, else ``$LG_COORDINATOR``, else labgrid's default."""
    address = definition.labgrid.coordinator or os.environ.get("LG_COORDINATOR") or f"127.0.0.1:{DEFAULT_PORT}"
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or host.endswith(":"):  # no port (an IPv6 address has colons)
        return f"{address}:{DEFAULT_PORT}"
    return address


@dataclass(frozen=True)
class PlaceResources:
    """What a place offers qnx-hil, read from its acquired resources."""

    ssh_host: str
    ssh_port: int
    ssh_user: str
    console_url: str | None
    baud: int
    power: tuple[str, dict[str, Any]] | None  # resource class, its parameters


def read_resources(place: str, resources: list[tuple[str, dict[str, Any]]]) -> PlaceResources:
    """The SSH, console and power resources among ``(class, params)``; a missing one is an error."""
    by_cls: dict[str, dict[str, Any]] = {}
    for cls, params in resources:
        by_cls.setdefault(cls, params)
    service = by_cls.get("NetworkService")
    if service is None:
        have = ", ".join(sorted(by_cls)) or "none"
        raise InfrastructureError(
            f"labgrid place '{place}' has no NetworkService resource (its acquired resources: {have}); "
            f"export the board's SSH service as a NetworkService and add it to the place (add-match)"
        )
    address = str(service.get("address", ""))
    if "%" in address:  # a link-local address with an interface: only the exporter reaches it
        raise InfrastructureError(
            f"labgrid place '{place}': NetworkService address {address} needs labgrid's proxy, "
            f"which qnx-hil does not use; export an address this host reaches"
        )
    console_url = None
    baud = 115200
    serial = by_cls.get("NetworkSerialPort")
    if serial is not None:
        scheme = "socket" if serial.get("protocol", "rfc2217") == "raw" else "rfc2217"
        console_url = f"{scheme}://{serial.get('host')}:{serial.get('port')}"
        baud = int(serial.get("speed", 115200))
    power = next(((cls, by_cls[cls]) for cls in POWER_DRIVERS if cls in by_cls), None)
    return PlaceResources(
        ssh_host=address,
        ssh_port=int(service.get("port", 22)),
        ssh_user=str(service.get("username") or "root"),
        console_url=console_url,
        baud=baud,
        power=power,
    )


class Coordinator:
    """One connection to a labgrid coordinator as this run's user, on an event loop of its own.

    Every call is bounded (``CALL_TIMEOUT``); a coordinator that does not answer, and
    any error it reports, is an ``InfrastructureError`` naming ``what`` was being done.
    """

    def __init__(self, address: str, what: str, owner: str | None = None) -> None:
        self.client = _client()
        self.address = address
        self.what = what
        self.owner = owner or run_owner()
        host, _, user = self.owner.partition("/")
        self.loop = _event_loop()
        base = self.client.ClientSession

        class Session(base):  # type: ignore[misc, valid-type]
            def gethostname(self) -> str:
                return host

            def getuser(self) -> str:
                return user

        async def make() -> Any:
            return Session(address=address, loop=asyncio.get_running_loop())

        try:
            self.session = self._call(make(), "connecting")
            self._call(self.session.start(), "connecting")
        except BaseException:
            self.close()
            raise

    def _call(self, coro: Coroutine[Any, Any, Any], doing: str, timeout: float = CALL_TIMEOUT) -> Any:
        import concurrent.futures

        import grpc

        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(coro, timeout), self.loop)
        try:
            return future.result(timeout + 5)
        except (TimeoutError, concurrent.futures.TimeoutError):
            future.cancel()
            raise InfrastructureError(
                f"labgrid coordinator {self.address} did not answer within {timeout:.0f} s ({doing}, {self.what})"
            ) from None
        except grpc.aio.AioRpcError as exc:
            raise InfrastructureError(
                f"labgrid coordinator {self.address}: {exc.details()} ({doing}, {self.what})"
            ) from None
        except self.client.Error as exc:
            raise InfrastructureError(f"labgrid coordinator {self.address}: {exc} ({doing}, {self.what})") from None
        except BaseException:  # Ctrl-C, SIGTERM: stop waiting; the caller releases what it holds
            future.cancel()
            raise

    def close(self) -> None:
        session = getattr(self, "session", None)
        if session is None:
            return
        self.session = None

        async def end() -> None:
            await asyncio.wait_for(session.stop(), 5)
            await asyncio.wait_for(session.close(), 5)

        try:
            asyncio.run_coroutine_threadsafe(end(), self.loop).result(15)
        except Exception:  # noqa: BLE001, S110 - the coordinator may be gone; nothing to keep
            pass

    # -- places and reservations -----------------------------------------------------------

    def places(self) -> dict[str, Any]:
        places: dict[str, Any] = self.session.places
        return places

    def sync(self) -> None:
        self._call(self.session.sync_with_coordinator(), "syncing")

    def _pb2(self) -> Any:
        from labgrid.remote.generated import labgrid_coordinator_pb2

        return labgrid_coordinator_pb2

    def reserve(self, filters: dict[str, str], prio: int) -> str:
        pb2 = self._pb2()
        request = pb2.CreateReservationRequest(filters={"main": pb2.Reservation.Filter(filter=filters)}, prio=prio)
        response = self._call(self.session.stub.CreateReservation(request), "queueing a reservation")
        return str(response.reservation.token)

    def poll(self, token: str) -> Any:
        """The reservation (labgrid's ``Reservation``), refreshed so that it does not expire."""
        from labgrid.remote.common import Reservation

        pb2 = self._pb2()
        response = self._call(self.session.stub.PollReservation(pb2.PollReservationRequest(token=token)), "polling")
        return Reservation.from_pb2(response.reservation)

    def reservations(self) -> list[Any]:
        from labgrid.remote.common import Reservation

        response = self._call(self.session.stub.GetReservations(self._pb2().GetReservationsRequest()), "listing")
        return [Reservation.from_pb2(r) for r in response.reservations]

    def cancel(self, token: str) -> None:
        self._call(self.session.stub.CancelReservation(self._pb2().CancelReservationRequest(token=token)), "cancel")

    def acquire(self, place: str) -> None:
        self._call(self.session.stub.AcquirePlace(self._pb2().AcquirePlaceRequest(placename=place)), "acquiring")
        self.sync()

    def release_from(self, place: str, holder: str) -> None:
        """Release ``place`` only if ``holder`` still has it (labgrid's ``release-from``)."""
        request = self._pb2().ReleasePlaceRequest(placename=place, fromuser=holder)
        self._call(self.session.stub.ReleasePlace(request), "releasing")
        self.sync()

    def acquired_resources(self, place: str) -> list[tuple[str, dict[str, Any]]]:
        """``(class, params)`` of each resource the acquired ``place`` holds."""
        found = []
        for path in self.places()[place].acquired_resources:
            exporter, group, cls, name = path
            try:
                entry = self.session.resources[exporter][group][name]
            except KeyError:
                raise InfrastructureError(
                    f"labgrid place '{place}': resource {'/'.join(path)} is gone (exporter {exporter} disconnected?)"
                ) from None
            found.append((cls, dict(entry.params)))
        return found

    def holder(self, place: str) -> str:
        """Who has ``place``: the user that acquired it, else the owner of the reservation it is allocated to."""
        p = self.places().get(place)
        if p is None:
            return "nobody (no such place)"
        if p.acquired:
            return str(p.acquired)
        if p.reservation:
            owners = [r.owner for r in self.reservations() if r.token == p.reservation]
            return f"{owners[0] if owners else '?'} (reservation {p.reservation}, not yet acquired)"
        return "nobody"


def _matching(places: dict[str, Any], place: str | None, tags: dict[str, str]) -> list[str]:
    if place is not None:
        return [place] if place in places else []
    return sorted(n for n, p in places.items() if all(p.tags.get(k) == v for k, v in tags.items()))


@dataclass
class Held:
    """A place this run queued for or holds."""

    address: str
    owner: str
    token: str | None = None
    place: str | None = None  # set once acquired


def take_place(definition: TargetDefinition, held: Held, wait: float) -> PlaceResources:
    """Queue for the definition's place (``held.token``), acquire it (``held.place``) and read its resources."""
    lab = definition.labgrid
    wanted = f"place '{lab.place}'" if lab.place else f"a place tagged {lab.tags}"
    if lab.place is None and not lab.tags:
        raise SetupError(
            f"target '{definition.name}' ({definition.source}): set [labgrid] place or tags, or select a place "
            f"with --hil-target labgrid:PLACE"
        )
    c = Coordinator(held.address, f"target '{definition.name}', {wanted}", held.owner)
    try:
        candidates = _matching(c.places(), lab.place, lab.tags)
        if not candidates:
            known = ", ".join(sorted(c.places())) or "none"
            raise InfrastructureError(f"labgrid coordinator {held.address} has no {wanted} (places: {known})")
        held.token = c.reserve({"name": lab.place} if lab.place else dict(lab.tags), lab.prio)
        end = time.monotonic() + wait
        while True:
            res = c.poll(held.token)
            state = res.state.name
            if state in ("allocated", "acquired"):
                held.place = res.allocations["main"][0]
                break
            if state != "waiting":
                raise InfrastructureError(f"labgrid reservation {held.token} for {wanted} is {state}")
            for name in candidates:  # a run of this host killed with SIGKILL: labgrid's release-from
                holder = c.places()[name].acquired
                if stale_on_this_host(holder):
                    c.release_from(name, holder)
                    for r in c.reservations():
                        if r.owner == holder:
                            c.cancel(r.token)
            for r in c.reservations():  # a killed run's reservation (waiting, or allocated, never acquired)
                if r.token != held.token and stale_on_this_host(r.owner):
                    c.cancel(r.token)
            if time.monotonic() >= end:
                holders = "; ".join(f"'{n}' held by {c.holder(n)}" for n in candidates)
                raise InfrastructureError(
                    f"labgrid {wanted} is busy: {holders}; waited {wait:.0f} s in labgrid's queue "
                    f"(reservation {held.token}) on coordinator {held.address}"
                )
            time.sleep(min(POLL_S, max(0.0, end - time.monotonic())))
        c.acquire(held.place)
        return read_resources(held.place, c.acquired_resources(held.place))
    finally:
        c.close()


def give_back(held: Held) -> None:
    """Release the place (only if this run still holds it) and cancel the reservation; never raises."""
    if held.token is None and held.place is None:
        return
    try:
        c = Coordinator(held.address, f"releasing place '{held.place}'", held.owner)
    except Exception:  # noqa: BLE001 - the coordinator is gone: nothing to give back to
        return
    try:
        if held.place is not None:
            try:
                c.release_from(held.place, held.owner)
            except InfrastructureError:
                pass
        if held.token is not None:
            try:
                c.cancel(held.token)
            except InfrastructureError:
                pass
    finally:
        c.close()
        held.place = held.token = None


@register
class LabgridTarget(BoardTarget):
    """A board taken from a labgrid lab: reserved, acquired, then attached like a board."""

    kind = "labgrid"
    held: Held | None = None
    resources: PlaceResources | None = None

    def __init__(self, definition: TargetDefinition, run_dir: Any) -> None:
        super().__init__(definition, run_dir)
        self.lab_definition = definition
        self._power_driver: Any = None

    @property
    def place(self) -> str | None:
        return self.held.place if self.held is not None else None

    def up(self, deadline: Deadline) -> None:
        d = self.lab_definition
        if self.held is None or self.held.place is None:
            _client()  # says how to install labgrid before anything else
            self.held = Held(coordinator_address(d), run_owner())
            try:
                self.resources = take_place(d, self.held, min(d.lease.wait, deadline.remaining()))
            except BaseException:
                self.down()
                raise
        assert self.resources is not None and d.ssh is not None
        r = self.resources
        console = d.console
        if r.console_url is not None:
            console = ConsoleSection(url=r.console_url, baud=r.baud)
        self.definition = dataclasses.replace(
            d,
            ssh=dataclasses.replace(d.ssh, host=r.ssh_host, port=r.ssh_port, user=r.ssh_user),
            console=console,
            lease=LeaseSection(enabled=False),  # labgrid is the lease
        )
        super().up(deadline)  # on failure it calls down(): the place is released

    def reset(self, deadline: Deadline) -> None:
        """Reconnect (and power-cycle) the board, keeping the place."""
        self._close_links()
        self.up(deadline)

    def down(self) -> None:
        super().down()
        if self.held is not None:
            give_back(self.held)
            self.held = None
        self.resources = None
        self._power_driver = None
        self.definition = self.lab_definition

    def power(self, action: str, timeout: float = 0.0) -> bool:
        """The place's power resource through labgrid's driver, else the ``[power]`` commands."""
        if self.resources is None or self.resources.power is None:
            return super().power(action, timeout)
        try:
            if self._power_driver is None:
                self._power_driver = self._make_power_driver(*self.resources.power)
            getattr(self._power_driver, action)()
        except InfrastructureError:
            raise
        except Exception as exc:
            raise InfrastructureError(
                f"power {action} of labgrid place '{self.place}' ({self.resources.power[0]}) failed: {exc}"
            ) from exc
        return True

    def _make_power_driver(self, cls: str, params: dict[str, Any]) -> Any:
        from labgrid import Target as LabgridLocal
        from labgrid.factory import target_factory

        local = LabgridLocal(f"hil-{self.place}")
        args = {k: v for k, v in params.items() if k != "extra"}
        target_factory.make_resource(local, cls, "power", args)
        driver = target_factory.make_driver(local, POWER_DRIVERS[cls], "power", {})
        local.activate(driver)
        return driver

    def facts(self) -> dict[str, str]:
        facts = super().facts()
        if self.held is not None:
            facts["labgrid.place"] = str(self.held.place)
            facts["labgrid.coordinator"] = self.held.address
        return facts
