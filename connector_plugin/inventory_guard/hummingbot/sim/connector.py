"""``SimClobExchange``: a real Hummingbot connector (an ``ExchangePyBase`` subclass) for the in-process venue.

Everything above the wire is Hummingbot's own code: ``buy()``/``sell()``/``cancel()``, ``_create_order``, the
``ClientOrderTracker`` with its in-flight orders, and the ``OrderFilled`` / ``BuyOrderCreated`` / ``OrderCancelled``
/ ``BuyOrderCompleted`` / ``OrderFailure`` events. Only the wire is replaced: ``_api_request`` routes REST calls to
the ``SimExchange`` object, the user stream is a queue drained from the venue, the order book is a snapshot of the
venue's book, and the server clock is the simulated clock. Nothing opens a socket.

Nothing runs in the background either: ``start_network()`` only initialises (trading rules, symbol map, balances,
order book) and the owner drives the connector step by step (``SimDriver`` in ``driver.py``): advance the venue,
tick the Hummingbot clock, ``sim_pump_user_stream()`` (what ``_user_stream_event_listener`` would do with the
websocket's messages) and, every poll interval, ``_status_polling_loop_fetch_updates()`` (Hummingbot's REST poll:
balances, trade history and status of every tracked order). That keeps runs deterministic for a seed.

Hooks for the guard (in addition to Hummingbot's own events). The simulator defines its own events and imports
nothing of the adapter; the adapter side listens (``demo.link_trade_statuses``):

* ``SimVenueEvent.TradeStatus`` (``TradeStatusEvent``) and ``add_trade_status_listener(cb)``: each status of a
  trade of ours, as the venue's user channel reports it (``MATCHED``, ``MINED``, ``RETRYING``, ``CONFIRMED``,
  ``FAILED``); ``trade_id`` is the id the fill carried (as a string). Reported once per (trade id, status), from the
  websocket or, when a ``CONFIRMED`` / ``FAILED`` notice was lost, from the REST trade history of a tracked order.
* ``SimVenueEvent.TradeFailed`` (``SimTradeFailedEvent``) and ``add_trade_failed_listener(cb)``: a trade the venue
  matched (and reported as a fill) later FAILED. Reported once per trade id, with its ``FAILED`` status.
* ``SimVenueEvent.UserStreamDisconnected`` / ``UserStreamReconnected`` (``UserStreamEvent``) and
  ``add_user_stream_listener(cb)``: the private websocket dropped / came back. A reconnect is reported before
  any message of the new connection is processed (so before the venue's replay of recent trades).
* ``SimVenueEvent.BalanceSnapshot`` (``BalanceSnapshotEvent``) and ``add_balance_snapshot_listener(cb)``: every
  REST balance poll, with the venue's ``as_of`` time (the balance API lags). ``last_balance_snapshot`` keeps the
  newest one. (Wrapping ``_update_balances`` on the instance also works: the poll calls it through ``self``.)

Listeners registered with the ``add_*_listener`` methods are held strongly (PubSub listeners are weak references).
"""
from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Any

from bidict import bidict
from cachetools import TTLCache
from hummingbot.connector.client_order_tracker import ClientOrderTracker
from hummingbot.connector.exchange_py_base import ExchangePyBase
from hummingbot.connector.trading_rule import TradingRule
from hummingbot.connector.utils import combine_to_hb_trading_pair
from hummingbot.core.api_throttler.data_types import RateLimit
from hummingbot.core.data_type.common import OrderType, TradeType
from hummingbot.core.data_type.in_flight_order import InFlightOrder, OrderState, OrderUpdate, TradeUpdate
from hummingbot.core.data_type.order_book import OrderBook
from hummingbot.core.data_type.order_book_message import OrderBookMessage
from hummingbot.core.data_type.order_book_row import OrderBookRow
from hummingbot.core.data_type.order_book_tracker_data_source import OrderBookTrackerDataSource
from hummingbot.core.data_type.trade_fee import AddedToCostTradeFee, TradeFeeBase
from hummingbot.core.data_type.user_stream_tracker_data_source import UserStreamTrackerDataSource
from hummingbot.core.web_assistant.connections.data_types import RESTMethod
from hummingbot.core.web_assistant.web_assistants_factory import WebAssistantsFactory

from .exchange import SimExchange, VenueError

CONNECTOR_NAME = "sim_clob"

# REST paths of the simulated venue (Polymarket-like CLOB endpoints)
MARKETS_PATH = "/markets"
TIME_PATH = "/time"
ORDER_PATH = "/order"
ORDER_STATUS_PATH = "/data/order"
TRADES_PATH = "/data/trades"
BALANCE_PATH = "/balance-allowance"

ORDER_STATE = {"LIVE": OrderState.OPEN, "MATCHED": OrderState.FILLED, "CANCELED": OrderState.CANCELED}

log = logging.getLogger(__name__)


class SimVenueEvent(Enum):
    """PubSub tags of the simulated venue's own events (values chosen clear of Hummingbot's enums)."""
    TradeFailed = 73001
    UserStreamDisconnected = 73002
    UserStreamReconnected = 73003
    BalanceSnapshot = 73004
    TradeStatus = 73005


@dataclass(frozen=True)
class TradeReport:
    """The venue's report on one of our trades: what every trade event carries."""
    timestamp: float
    trade_id: str
    order_id: str | None            # client order id
    exchange_order_id: str
    trading_pair: str
    trade_type: TradeType
    amount: Decimal
    price: Decimal
    source: str                        # "ws" or "rest"


@dataclass(frozen=True)
class SimTradeFailedEvent(TradeReport):
    """The trade FAILED: its fill will never settle. (The venue's report; the adapter's own payload, which a connector
    triggers for the guard, is ``inventory_guard.hummingbot.events.TradeFailedEvent``.)"""


@dataclass(frozen=True)
class TradeStatusEvent(TradeReport):
    status: str                        # MATCHED / MINED / RETRYING / CONFIRMED / FAILED


@dataclass(frozen=True)
class UserStreamEvent:
    timestamp: float
    connected: bool
    connection_id: int
    down_since: float | None = None


@dataclass(frozen=True)
class BalanceSnapshotEvent:
    timestamp: float                   # when the answer arrived (connector clock)
    as_of: float                       # the venue's time the balances describe
    balances: dict[str, Decimal] = field(default_factory=dict)   # totals
    available: dict[str, Decimal] = field(default_factory=dict)


class SimOrderBookDataSource(OrderBookTrackerDataSource):
    """Snapshots come from the venue object; nothing subscribes to anything."""

    def __init__(self, trading_pairs: list[str], venue: SimExchange):
        super().__init__(trading_pairs)
        self._venue = venue
        self._update_id = 0

    async def get_last_traded_prices(self, trading_pairs: list[str], domain: str | None = None) -> dict[str, float]:
        return {tp: float(self._venue.mid) for tp in trading_pairs}

    def snapshot_rows(self) -> tuple[list[OrderBookRow], list[OrderBookRow], int]:
        self._update_id += 1
        bids, asks = self._venue.book()
        return ([OrderBookRow(float(p), float(s), self._update_id) for p, s in bids],
                [OrderBookRow(float(p), float(s), self._update_id) for p, s in asks], self._update_id)

    async def _order_book_snapshot(self, trading_pair: str) -> OrderBookMessage:
        raise NotImplementedError("the simulated venue pushes snapshots directly (sim_refresh_order_book)")

    async def subscribe_to_trading_pair(self, trading_pair: str) -> bool:
        return True

    async def unsubscribe_from_trading_pair(self, trading_pair: str) -> bool:
        return True


class SimUserStreamDataSource(UserStreamTrackerDataSource):
    """Holds only the time of the last message (Hummingbot reads ``last_recv_time`` for readiness and polling)."""

    def __init__(self):
        super().__init__()
        self.last_message_time: float = 0.0
        self.connects = 0

    @property
    def last_recv_time(self) -> float:
        return self.last_message_time

    async def _connected_websocket_assistant(self):
        """Called by the connector on the first connect and on every reconnect, like the real data sources'
        ``listen_for_user_stream`` loop does (the adapter's reconnect watch wraps this method)."""
        self.connects += 1
        return None

    async def listen_for_user_stream(self, output: asyncio.Queue):
        raise NotImplementedError("the simulated user stream is pumped by the driver (sim_pump_user_stream)")


class SimClobExchange(ExchangePyBase):
    """A Hummingbot spot connector whose exchange is an in-process ``SimExchange``."""

    # Hummingbot's tracker waits this long (wall seconds) for missing fills before completing an order; the venue
    # answers instantly, so a short wait is plenty and keeps accelerated runs from stalling.
    TRADE_FILLS_WAIT_TIMEOUT = 0.5

    def __init__(self, venue: SimExchange, trading_pairs: list[str] | None = None,
                 trading_required: bool = True, balance_asset_limit=None):
        self._venue = venue
        self._trading_pairs = list(trading_pairs or [venue.config.trading_pair])
        self._trading_required = trading_required
        self._connection_id = venue.connection_id
        self._ws_up = True
        self._ws_down_since: float | None = None
        self._failed_reported: set = set()
        self._statuses_reported: set = set()           # (trade id, status)
        self._trade_status_listeners: list[Callable] = []
        self._trade_failed_listeners: list[Callable] = []
        self._user_stream_listeners: list[Callable] = []
        self._balance_snapshot_listeners: list[Callable] = []
        self.last_balance_snapshot: BalanceSnapshotEvent | None = None
        self.sim_stats: dict[str, int] = {"ws_messages_processed": 0, "rest_requests": 0, "trade_failures_reported": 0,
                                          "trade_statuses_reported": 0,
                                          "reconnects_seen": 0, "disconnects_seen": 0}
        super().__init__(balance_asset_limit=balance_asset_limit)
        self.real_time_balance_update = False

    # ------------------------------------------------------------------ identity / constants
    @property
    def venue(self) -> SimExchange:
        return self._venue

    @property
    def name(self) -> str:
        return CONNECTOR_NAME

    @property
    def authenticator(self):
        return None

    @property
    def rate_limits_rules(self) -> list[RateLimit]:
        return []

    @property
    def domain(self) -> str:
        return "sim"

    @property
    def client_order_id_max_length(self) -> int:
        return 36

    @property
    def client_order_id_prefix(self) -> str:
        return "sim-"

    @property
    def trading_rules_request_path(self) -> str:
        return MARKETS_PATH

    @property
    def trading_pairs_request_path(self) -> str:
        return MARKETS_PATH

    @property
    def check_network_request_path(self) -> str:
        return TIME_PATH

    @property
    def trading_pairs(self) -> list[str]:
        return self._trading_pairs

    @property
    def is_cancel_request_in_exchange_synchronous(self) -> bool:
        return True

    @property
    def is_trading_required(self) -> bool:
        return self._trading_required

    def supported_order_types(self) -> list[OrderType]:
        return [OrderType.LIMIT, OrderType.LIMIT_MAKER, OrderType.MARKET]

    def _is_request_exception_related_to_time_synchronizer(self, request_exception: Exception) -> bool:
        return False

    def _is_order_not_found_during_status_update_error(self, status_update_exception: Exception) -> bool:
        return isinstance(status_update_exception, VenueError) and status_update_exception.code == "not_found"

    def _is_order_not_found_during_cancelation_error(self, cancelation_exception: Exception) -> bool:
        return isinstance(cancelation_exception, VenueError) and cancelation_exception.code == "not_found"

    # ------------------------------------------------------------------ factories
    def _create_web_assistants_factory(self) -> WebAssistantsFactory:
        return WebAssistantsFactory(throttler=self._throttler)      # never asked for an assistant

    def _create_order_book_data_source(self) -> OrderBookTrackerDataSource:
        return SimOrderBookDataSource(self._trading_pairs, self._venue)

    def _create_user_stream_data_source(self) -> UserStreamTrackerDataSource:
        return SimUserStreamDataSource()

    def _create_order_tracker(self) -> ClientOrderTracker:
        tracker = ClientOrderTracker(connector=self)
        # Cached (closed) orders expire on the simulated clock, not the wall clock, so runs are reproducible.
        tracker._cached_orders = TTLCache(maxsize=tracker.MAX_CACHE_SIZE, ttl=tracker.CACHED_ORDER_TTL,
                                          timer=self._sim_time)
        tracker.TRADE_FILLS_WAIT_TIMEOUT = self.TRADE_FILLS_WAIT_TIMEOUT
        return tracker

    def _sim_time(self) -> float:
        ts = self.current_timestamp
        return 0.0 if ts is None or math.isnan(ts) else float(ts)

    # ------------------------------------------------------------------ the wire: REST
    async def _api_request(self, path_url, overwrite_url: str | None = None, method: RESTMethod = RESTMethod.GET,
                           params: dict[str, Any] | None = None, data: dict[str, Any] | None = None,
                           is_auth_required: bool = False, return_err: bool = False, limit_id: str | None = None,
                           headers: dict[str, Any] | None = None, **kwargs) -> dict[str, Any]:
        """Route a REST call to the in-process venue. Venue refusals raise ``VenueError``."""
        v = self._venue
        params = params or {}
        data = data or {}
        self.sim_stats["rest_requests"] += 1
        if path_url == TIME_PATH:
            return {"server_time": v.now}
        if path_url == MARKETS_PATH:
            return v.exchange_info()
        if path_url == BALANCE_PATH:
            return v.get_balances()
        if path_url == ORDER_PATH and method == RESTMethod.POST:
            return v.place_order(client_order_id=data["client_order_id"], side=data["side"],
                                 order_type=data["order_type"], size=Decimal(data["size"]),
                                 price=None if data.get("price") is None else Decimal(data["price"]))
        if path_url == ORDER_PATH and method == RESTMethod.DELETE:
            return v.cancel_order(data["order_id"])
        if path_url == ORDER_STATUS_PATH:
            if params.get("id"):
                return v.get_order(params["id"])
            found = v.find_order(params["client_order_id"])
            if found is None:
                raise VenueError(f"order {params['client_order_id']} not found", "not_found")
            return found
        if path_url == TRADES_PATH:
            return {"trades": v.get_trades(params["order_id"])}
        raise VenueError(f"unknown endpoint {method} {path_url}", "not_found")

    async def _update_time_synchronizer(self, pass_on_non_cancelled_error: bool = False):
        return None    # the venue and the connector share the simulated clock

    async def _make_network_check_request(self):
        await self._api_get(path_url=TIME_PATH)

    async def _update_trading_fees(self):
        return None

    async def _format_trading_rules(self, exchange_info_dict: dict[str, Any]) -> list[TradingRule]:
        rules = []
        for m in exchange_info_dict["markets"]:
            rules.append(TradingRule(
                trading_pair=combine_to_hb_trading_pair(m["base"], m["quote"]),
                min_order_size=Decimal(m["min_order_size"]),
                min_price_increment=Decimal(m["tick_size"]),
                min_base_amount_increment=Decimal(m["size_increment"]),
                min_notional_size=Decimal("0")))
        return rules

    def _initialize_trading_pair_symbols_from_exchange_info(self, exchange_info: dict[str, Any]):
        mapping: bidict[str, str] = bidict()
        for m in exchange_info["markets"]:
            mapping[m["symbol"]] = combine_to_hb_trading_pair(m["base"], m["quote"])
        self._set_trading_pair_symbol_map(mapping)

    async def _get_last_traded_price(self, trading_pair: str) -> float:
        return float(self._venue.mid)

    def _get_fee(self, base_currency: str, quote_currency: str, order_type: OrderType, order_side: TradeType,
                 amount: Decimal, price: Decimal = Decimal("NaN"), is_maker: bool | None = None):
        return AddedToCostTradeFee(percent=Decimal("0"))

    def estimate_fee_pct(self, is_maker: bool) -> Decimal:
        return Decimal("0")      # not in AllConnectorSettings: Hummingbot's fee-schema lookup would raise

    async def _place_order(self, order_id: str, trading_pair: str, amount: Decimal, trade_type: TradeType,
                           order_type: OrderType, price: Decimal, **kwargs) -> tuple[str, float]:
        payload = {"client_order_id": order_id, "side": trade_type.name, "order_type": order_type.name,
                   "size": str(amount),
                   "price": None if order_type == OrderType.MARKET or price is None or price.is_nan() else str(price)}
        resp = await self._api_post(path_url=ORDER_PATH, data=payload, is_auth_required=True)
        return resp["orderID"], float(resp["ts"])

    async def _place_cancel(self, order_id: str, tracked_order: InFlightOrder) -> bool:
        ex_id = tracked_order.exchange_order_id
        if ex_id is None:
            found = self._venue.find_order(order_id)
            if found is None:
                raise TimeoutError()       # "no exchange order id yet": Hummingbot retries later
            ex_id = found["id"]
        resp = await self._api_delete(path_url=ORDER_PATH, data={"order_id": ex_id}, is_auth_required=True)
        return ex_id in resp["canceled"]

    async def _request_order_status(self, tracked_order: InFlightOrder) -> OrderUpdate:
        if tracked_order.exchange_order_id:
            body = await self._api_get(path_url=ORDER_STATUS_PATH, params={"id": tracked_order.exchange_order_id},
                                       is_auth_required=True)
        else:
            body = await self._api_get(path_url=ORDER_STATUS_PATH,
                                       params={"client_order_id": tracked_order.client_order_id},
                                       is_auth_required=True)
        return self._order_update_from(body, tracked_order)

    async def _all_trade_updates_for_order(self, order: InFlightOrder) -> list[TradeUpdate]:
        ex_id = order.exchange_order_id
        if not ex_id:
            return []
        resp = await self._api_get(path_url=TRADES_PATH, params={"order_id": ex_id}, is_auth_required=True)
        updates = []
        for tr in resp["trades"]:
            if tr["status"] in ("CONFIRMED", "FAILED"):      # a lost websocket notice is found here
                self._report_status(tr, order, source="rest")
            if tr["status"] != "FAILED":
                updates.append(self._trade_update_from(tr, order))
        return updates

    async def _update_balances(self):
        resp = await self._api_get(path_url=BALANCE_PATH, is_auth_required=True)
        totals, avail = {}, {}
        for asset, b in resp["balances"].items():
            totals[asset] = Decimal(b["total"])
            avail[asset] = Decimal(b["available"])
            self._account_balances[asset] = totals[asset]
            self._account_available_balances[asset] = avail[asset]
        snap = BalanceSnapshotEvent(timestamp=self._sim_time(), as_of=float(resp["as_of"]),
                                    balances=totals, available=avail)
        self.last_balance_snapshot = snap
        self._notify(self._balance_snapshot_listeners, SimVenueEvent.BalanceSnapshot, snap)

    # ------------------------------------------------------------------ the wire: user stream
    async def _user_stream_event_listener(self):
        """Hummingbot's listener loop (used only if someone starts the tracker queue; the driver pumps instead)."""
        async for message in self._iter_user_event_queue():
            try:
                self._process_user_stream_message(message)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.logger().error("Unexpected error in user stream listener loop.", exc_info=True)

    async def sim_pump_user_stream(self) -> int:
        """Deliver what the venue's websocket sent since the last pump. Returns the number of messages.

        The first pump opens the stream (so attach listeners before the first step); a reconnect calls the data
        source's ``_connected_websocket_assistant()`` and the reconnect listeners before any message of the new
        connection is processed."""
        v = self._venue
        now = self._sim_time()
        ds: SimUserStreamDataSource = self._user_stream_tracker.data_source
        if ds.connects == 0 and v.ws_connected:
            await ds._connected_websocket_assistant()
            self._connection_id = v.connection_id
        if not v.ws_connected:
            if self._ws_up:
                self._ws_up = False
                self._ws_down_since = now
                self.sim_stats["disconnects_seen"] += 1
                self._notify(self._user_stream_listeners, SimVenueEvent.UserStreamDisconnected,
                             UserStreamEvent(now, False, self._connection_id, now))
            return 0
        messages = v.ws_drain()
        # a heartbeat keeps last_recv_time current while the socket is up (Hummingbot's readiness and poll interval)
        ds.last_message_time = now
        if v.connection_id != self._connection_id:
            down_since = self._ws_down_since
            if self._ws_up:            # dropped and back between two pumps: report the drop too
                self.sim_stats["disconnects_seen"] += 1
                self._notify(self._user_stream_listeners, SimVenueEvent.UserStreamDisconnected,
                             UserStreamEvent(now, False, self._connection_id, now))
                down_since = now
            self._connection_id = v.connection_id
            self._ws_up = True
            self._ws_down_since = None
            self.sim_stats["reconnects_seen"] += 1
            await ds._connected_websocket_assistant()
            self._notify(self._user_stream_listeners, SimVenueEvent.UserStreamReconnected,
                         UserStreamEvent(now, True, self._connection_id, down_since))
        for msg in messages:
            try:
                self._process_user_stream_message(msg)
            except Exception:
                self.logger().error(f"Unexpected error processing user stream message {msg}", exc_info=True)
        return len(messages)

    def _process_user_stream_message(self, msg: dict[str, Any]) -> None:
        self.sim_stats["ws_messages_processed"] += 1
        kind = msg.get("event_type")
        if kind == "trade":
            order = self._tracked_order_for(msg)
            if msg["status"] != "FAILED" and order is not None:
                # NOTE: the trade id is passed through as the venue wrote it. The venue's replay path writes it
                # as a number, so Hummingbot's per-order dedup (keyed by the id value) lets that copy through:
                # the duplicate fill the guard has to ignore.
                self._order_tracker.process_trade_update(self._trade_update_from(msg, order, raw_id=True))
            self._report_status(msg, order, source="ws")
        elif kind == "order":
            order = self._tracked_order_for(msg, updatable_only=True)
            if order is not None:
                self._order_tracker.process_order_update(self._order_update_from(msg, order))

    def _tracked_order_for(self, msg: dict[str, Any], updatable_only: bool = False) -> InFlightOrder | None:
        t = self._order_tracker
        ex_id = msg.get("order_id") or msg.get("id")
        cid = msg.get("client_order_id")
        pool = t.all_updatable_orders if updatable_only else t.all_fillable_orders
        order = pool.get(cid)
        if order is None and ex_id is not None:
            by_ex = t.all_updatable_orders_by_exchange_order_id if updatable_only \
                else t.all_fillable_orders_by_exchange_order_id
            order = by_ex.get(ex_id)
        return order

    def _trade_update_from(self, tr: dict[str, Any], order: InFlightOrder, raw_id: bool = False) -> TradeUpdate:
        size, price = Decimal(tr["size"]), Decimal(tr["price"])
        fee: TradeFeeBase = AddedToCostTradeFee(percent=Decimal("0"))
        return TradeUpdate(
            trade_id=tr["id"] if raw_id else str(tr["id"]),
            client_order_id=order.client_order_id,
            exchange_order_id=tr["order_id"],
            trading_pair=order.trading_pair,
            fill_timestamp=float(tr["matchtime"]),
            fill_price=price,
            fill_base_amount=size,
            fill_quote_amount=size * price,
            fee=fee)

    def _order_update_from(self, body: dict[str, Any], order: InFlightOrder) -> OrderUpdate:
        state = ORDER_STATE[body["status"]]
        if state == OrderState.OPEN and Decimal(body["size_matched"]) > 0:
            state = OrderState.PARTIALLY_FILLED
        return OrderUpdate(client_order_id=order.client_order_id, exchange_order_id=body["id"],
                           trading_pair=order.trading_pair, update_timestamp=float(body["timestamp"]),
                           new_state=state)

    def _report_status(self, tr: dict[str, Any], order: InFlightOrder | None, source: str) -> None:
        tid, status = str(tr["id"]), tr["status"]
        if (tid, status) in self._statuses_reported:
            return
        self._statuses_reported.add((tid, status))
        self.sim_stats["trade_statuses_reported"] += 1
        fields = dict(
            timestamp=self._sim_time(), trade_id=tid,
            order_id=order.client_order_id if order is not None else tr.get("client_order_id"),
            exchange_order_id=tr["order_id"], trading_pair=order.trading_pair if order is not None
            else self._trading_pairs[0], trade_type=TradeType.BUY if tr["side"] == "BUY" else TradeType.SELL,
            amount=Decimal(tr["size"]), price=Decimal(tr["price"]), source=source)
        self._notify(self._trade_status_listeners, SimVenueEvent.TradeStatus, TradeStatusEvent(status=status, **fields))
        if status == "FAILED" and tid not in self._failed_reported:
            self._failed_reported.add(tid)
            self.sim_stats["trade_failures_reported"] += 1
            self._notify(self._trade_failed_listeners, SimVenueEvent.TradeFailed, SimTradeFailedEvent(**fields))

    # ------------------------------------------------------------------ hooks
    def add_trade_status_listener(self, callback: Callable[[TradeStatusEvent], None]) -> None:
        self._trade_status_listeners.append(callback)

    def add_trade_failed_listener(self, callback: Callable[[SimTradeFailedEvent], None]) -> None:
        self._trade_failed_listeners.append(callback)

    def add_user_stream_listener(self, callback: Callable[[UserStreamEvent], None]) -> None:
        self._user_stream_listeners.append(callback)

    def add_balance_snapshot_listener(self, callback: Callable[[BalanceSnapshotEvent], None]) -> None:
        self._balance_snapshot_listeners.append(callback)

    def remove_sim_listener(self, callback: Callable) -> None:
        for lst in (self._trade_status_listeners, self._trade_failed_listeners, self._user_stream_listeners,
                    self._balance_snapshot_listeners):
            while callback in lst:
                lst.remove(callback)

    def _notify(self, callbacks: list[Callable], tag: SimVenueEvent, event: Any) -> None:
        for cb in list(callbacks):
            try:
                cb(event)
            except Exception:
                self.logger().error(f"{tag.name} listener {cb!r} failed", exc_info=True)
        self.trigger_event(tag, event)

    # ------------------------------------------------------------------ lifecycle driven by the owner
    async def start_network(self):
        """Initialise from the venue (no background tasks: see the module docstring)."""
        await self.sim_start()

    async def sim_start(self) -> None:
        await self._update_trading_rules()
        await self._update_balances()
        for tp in self._trading_pairs:
            self.order_book_tracker._order_books.setdefault(tp, OrderBook())
        self.sim_refresh_order_book()
        self.order_book_tracker._order_books_initialized.set()
        self._user_stream_tracker.data_source.last_message_time = self._sim_time() or self._venue.now or 1e-9
        # the stream itself is opened by the first sim_pump_user_stream() (after listeners are attached)

    def sim_refresh_order_book(self) -> None:
        ds: SimOrderBookDataSource = self._orderbook_ds
        for tp in self._trading_pairs:
            ob = self.order_book_tracker._order_books.get(tp)
            if ob is None:
                ob = self.order_book_tracker._order_books[tp] = OrderBook()
            bids, asks, uid = ds.snapshot_rows()
            ob.apply_snapshot(bids, asks, uid)

    async def sim_poll(self) -> None:
        """One REST poll, exactly what Hummingbot's ``_status_polling_loop`` runs after each poll tick."""
        await self._status_polling_loop_fetch_updates()
        self._last_poll_timestamp = self.current_timestamp
