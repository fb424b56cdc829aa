"""A simulated Polymarket-style venue for Hummingbot: an in-process exchange (``exchange.SimExchange``), a real
``ExchangePyBase`` connector on top of it (``connector.SimClobExchange``) and a deterministic driver
(``driver.SimDriver``). No network; time is simulated. See each module's docstring."""
from .exchange import SimExchange, VenueConfig, VenueError  # noqa: F401 (no hummingbot import)


def __getattr__(name):  # the connector parts import hummingbot: load them on first use
    if name in ("SimClobExchange", "SimVenueEvent", "TradeStatusEvent", "SimTradeFailedEvent", "UserStreamEvent",
                "BalanceSnapshotEvent", "CONNECTOR_NAME"):
        from . import connector
        return getattr(connector, name)
    if name in ("SimDriver", "settle"):
        from . import driver
        return getattr(driver, name)
    raise AttributeError(name)
