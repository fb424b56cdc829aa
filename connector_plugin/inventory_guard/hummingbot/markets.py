"""The market map: which guard market an order, a fill or a balance belongs to (no core, no I/O).

* Spot: one guard market per (connector, base asset). Every trading pair with that base asset on that connector
  shares it: one confirmed position (the asset's total balance), one pending book, one limit. Market id: the asset
  (``BTC``) when the strategy uses one connector, ``connector:asset`` (``binance:BTC``) with several.
* Perpetuals: one guard market per contract (``BTC-USDT`` / ``binance_perpetual:BTC-USDT``) holding the signed
  position (ONEWAY mode; a short is normal there). In HEDGE mode long and short are separate exposures: the legs
  ``BTC-USDT:long`` and ``BTC-USDT:short``, each a position >= 0 against the limit, where opening a short is a
  "buy" of the short leg and closing it a "sell". The position mode is read from the connector at every use.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from inventory_guard.events import Side

D0 = Decimal(0)
LONG, SHORT = "long", "short"


@dataclass(frozen=True)
class MarketRef:
    market: str              # the guard market id
    connector_name: str
    trading_pair: str        # spot: the first of ``pairs``; perps: the contract
    base: str
    is_perp: bool
    leg: str | None = None          # HEDGE-mode leg of a perpetual contract ("long" / "short")
    pairs: tuple[str, ...] = ()        # spot: every guarded pair of the asset on this connector


@dataclass(frozen=True)
class Route:
    """Where an order goes in the guard: the market, the side as the core sees it, and whether it can only reduce
    the exposure (a CLOSE order: never blocked for the limit)."""
    ref: MarketRef
    side: Side
    reduce_only: bool = False


def is_perp_connector(connector_name: str, connector) -> bool:
    return "perpetual" in connector_name or hasattr(type(connector), "account_positions")


def base_asset(trading_pair: str) -> str:
    return trading_pair.split("-")[0]


class MarketMap:
    def __init__(self, connectors: Mapping[str, Any], pairs: Iterable[tuple[str, str]]):
        self.connectors = dict(connectors)
        pairs = sorted(set(pairs))
        if not pairs:
            raise ValueError("GuardBridge: no markets to guard (pass markets={connector: [pairs]})")
        self.multi = len(self.connectors) > 1
        self._spot: dict[tuple[str, str], MarketRef] = {}            # (connector, asset) -> ref
        self._perp: dict[tuple[str, str], tuple[MarketRef, MarketRef, MarketRef]] = {}   # signed, long, short
        spot_pairs: dict[tuple[str, str], list[str]] = {}
        for cname, pair in pairs:
            if is_perp_connector(cname, self.connectors[cname]):
                mid = self._prefix(cname) + pair
                base = base_asset(pair)
                self._perp[(cname, pair)] = (
                    MarketRef(mid, cname, pair, base, True, None, (pair,)),
                    MarketRef(f"{mid}:{LONG}", cname, pair, base, True, LONG, (pair,)),
                    MarketRef(f"{mid}:{SHORT}", cname, pair, base, True, SHORT, (pair,)))
            else:
                spot_pairs.setdefault((cname, base_asset(pair)), []).append(pair)
        for (cname, asset), ps in spot_pairs.items():
            self._spot[(cname, asset)] = MarketRef(self._prefix(cname) + asset, cname, ps[0], asset, False, None,
                                                   tuple(ps))
        self.pairs = pairs

    def _prefix(self, cname: str) -> str:
        return f"{cname}:" if self.multi else ""

    # ------------------------------------------------------------------ lookups
    def hedge(self, connector_name: str) -> bool:
        conn = self.connectors.get(connector_name)
        try:
            mode = getattr(conn, "position_mode", None)
        except Exception:
            return False
        return getattr(mode, "name", None) == "HEDGE"

    def all_refs(self) -> list[MarketRef]:
        """Every market the guard may use (both position modes), for the config."""
        out = list(self._spot.values())
        for trio in self._perp.values():
            out.extend(trio)
        return out

    def refs_for(self, connector_name: str) -> list[MarketRef]:
        """The markets of a connector in its current position mode."""
        out = [r for (c, _), r in self._spot.items() if c == connector_name]
        hedge = None
        for (c, _), (signed, long_, short) in self._perp.items():
            if c != connector_name:
                continue
            if hedge is None:
                hedge = self.hedge(c)
            out.extend((long_, short) if hedge else (signed,))
        return out

    def active_refs(self) -> list[MarketRef]:
        out = []
        for cname in self.connectors:
            out.extend(self.refs_for(cname))
        return sorted(out, key=lambda r: r.market)

    def by_market(self, market: str) -> MarketRef | None:
        return next((r for r in self.all_refs() if r.market == market), None)

    def guards(self, connector_name: str, trading_pair: str) -> bool:
        return (connector_name, trading_pair) in self._perp or (
            (connector_name, base_asset(trading_pair)) in self._spot and trading_pair in
            self._spot[(connector_name, base_asset(trading_pair))].pairs)

    def market_ref(self, connector_name: str, trading_pair: str) -> MarketRef | None:
        """The market of a pair (spot: its asset's market; perps: the signed contract market, or in HEDGE mode the
        long leg)."""
        if (connector_name, trading_pair) in self._perp:
            signed, long_, _ = self._perp[(connector_name, trading_pair)]
            return long_ if self.hedge(connector_name) else signed
        ref = self._spot.get((connector_name, base_asset(trading_pair)))
        return ref if ref is not None and trading_pair in ref.pairs else None

    def route(self, connector_name: str, trading_pair: str, side: Side, position_action=None) -> Route | None:
        """``side``: "buy"/"sell" as sent to the connector; ``position_action``: a PositionAction, its value or
        None."""
        action = getattr(position_action, "name", position_action)
        action = str(action).upper() if action is not None else "NIL"
        closing = action == "CLOSE"
        trio = self._perp.get((connector_name, trading_pair))
        if trio is None:
            ref = self.market_ref(connector_name, trading_pair)
            return None if ref is None else Route(ref, side)
        signed, long_, short = trio
        if not self.hedge(connector_name):
            return Route(signed, side, reduce_only=closing)
        if side == "buy":
            return Route(short, "sell", True) if closing else Route(long_, "buy")
        return Route(long_, "sell", True) if closing else Route(short, "buy")

    # ------------------------------------------------------------------ positions
    def position(self, ref: MarketRef) -> Decimal:
        """The connector's current position of a market: spot = total base balance; perps = signed position, or
        the leg's size in HEDGE mode."""
        conn = self.connectors[ref.connector_name]
        if not ref.is_perp:
            return Decimal(conn.get_balance(ref.base))
        long_, short = perp_position(conn, ref.trading_pair)
        if ref.leg == LONG:
            return long_
        if ref.leg == SHORT:
            return short
        return long_ - short


def perp_position(connector, trading_pair: str) -> tuple[Decimal, Decimal]:
    """(long size, short size) of a perpetual connector's positions in a contract, both >= 0."""
    long_, short = D0, D0
    for pos in list(connector.account_positions.values()):
        if pos.trading_pair != trading_pair:
            continue
        amt = Decimal(pos.amount)
        side = getattr(getattr(pos, "position_side", None), "name", None)
        if side == "LONG" or (side not in ("LONG", "SHORT") and amt > 0):
            long_ += abs(amt)
        elif side == "SHORT" or amt < 0:
            short += abs(amt)
    return long_, short


def signed_position(connector, trading_pair: str) -> Decimal:
    """Signed position of a perpetual connector for a pair (long positive, short negative)."""
    long_, short = perp_position(connector, trading_pair)
    return long_ - short
